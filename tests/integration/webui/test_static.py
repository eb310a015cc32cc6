# SPDX-License-Identifier: LGPL-2.1-or-later
"""The UI's files as loom-provisioner serves them from its binary: every
file the page loads, with its type, ETag revalidation, the security headers,
and the API left alone under /api/."""
import http.client
import os
import re

import pytest

WEB = os.path.join(os.path.dirname(__file__), "..", "..", "..", "provisioner", "web")


def served_files():
    """Every file index.html and the modules load, found by following their imports."""
    files, todo = set(), ["index.html"]
    while todo:
        name = todo.pop()
        if name in files:
            continue
        files.add(name)
        text = open(os.path.join(WEB, name)).read()
        for ref in re.findall(r'(?:href|src)="/([^"]+)"', text):
            todo.append(ref)
        for ref in re.findall(r"from '\./([^']+)'", text):
            todo.append(os.path.join(os.path.dirname(name), ref))
    return sorted(files)


def raw(prov, method, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", prov.port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}


@pytest.mark.parametrize("name", served_files())
def test_every_file_is_served(prov, name):
    status, headers, body = raw(prov, "GET", "/" + name)
    assert status == 200, name
    assert body == open(os.path.join(WEB, name), "rb").read()
    assert headers["Content-Type"].startswith(TYPES[os.path.splitext(name)[1]])
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    # the browser revalidates, and gets no body when nothing changed
    etag = headers["ETag"]
    status, headers, body = raw(prov, "GET", "/" + name, {"If-None-Match": etag})
    assert (status, body, headers["ETag"]) == (304, b"", etag)


def test_root_is_the_page(prov):
    status, _, body = raw(prov, "GET", "/")
    assert status == 200 and body == open(os.path.join(WEB, "index.html"), "rb").read()
    status, headers, body = raw(prov, "HEAD", "/index.html")
    assert status == 200 and body == b"" and headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/nope.html", "/js/", "/embed.py", "/meson.build",
                                  "/../provisioner.yaml", "/js/../index.htm", "/INDEX.HTML"])
def test_nothing_else_is_served(prov, path):
    status, headers, _ = raw(prov, "GET", path)
    assert status == 404
    assert headers["Content-Type"].startswith("text/plain")


def test_only_get_and_head(prov):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = raw(prov, method, "/index.html")
        assert (status, headers["Allow"]) == (405, "GET, HEAD"), method


def test_the_api_stays_the_api(prov):
    # a path under /api/ is the API's, with its JSON errors, even if no route matches
    status, headers, body = raw(prov, "GET", "/api/v1/index.html")
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert b'"not-found"' in body
    status, headers, body = raw(prov, "GET", "/api/index.html")
    assert status == 404 and headers["Content-Type"] == "application/json"
