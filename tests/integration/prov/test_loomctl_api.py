# SPDX-License-Identifier: LGPL-2.1-or-later
"""loomctl's API commands against a real loom-provisioner: login, create from
KEY=VALUE words and from a JSON file, list and show as tables and as JSON,
update, replace, delete, versions and rollback, and the API's JSON errors as
one clear line with their own exit status."""
import json
import os
import subprocess

import pytest

from conftest import ADMIN_PASSWORD

LOOMCTL = os.environ.get("LOOM_CTL", "")


@pytest.fixture
def ctl(prov, tmp_path):
    if not LOOMCTL:
        pytest.skip("LOOM_CTL is not set (run through meson test)")

    def run(*args, token=True, stdin=None, env=None):
        argv = [LOOMCTL, "--api", f"http://127.0.0.1:{prov.port}"]
        if token:
            argv += ["--token", prov.token]
        r = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=30,
                           input=stdin, env={**os.environ, **(env or {})})
        return r.returncode, r.stdout, r.stderr

    def ok(*args, **kw):
        rc, out, err = run(*args, **kw)
        assert rc == 0, f"loomctl {' '.join(args)}: {rc} {err}"
        return out

    def js(*args, **kw):
        return json.loads(ok("--json", *args, **kw))
    run.ok, run.json, run.tmp = ok, js, tmp_path
    return run


def test_login_gives_a_token_that_works(ctl):
    token = ctl.ok("login", "admin", token=False, stdin=ADMIN_PASSWORD + "\n").strip()
    assert len(token) == 64
    rc, out, err = ctl("--token", token, "interfaces", token=False)
    assert rc == 0, err
    rc, _, err = ctl("login", "admin", token=False, env={"LOOM_PASSWORD": "wrong-password"})
    assert rc == 4 and "401 unauthorized" in err, (rc, err)
    # without a token: the API's 401, and how to get one
    rc, _, err = ctl("interfaces", token=False, env={"LOOM_TOKEN": ""})
    assert rc == 4 and "401 unauthorized" in err and "loomctl login" in err, err


def test_every_command_of_a_resource(ctl):
    made = ctl.json("interfaces", "create", "name=eth1", "description=appliances")
    assert made == {"id": 1, "name": "eth1", "description": "appliances"}
    # a JSON file, values of every type
    body = ctl.tmp / "vs.json"
    body.write_text(json.dumps({"name": "www", "address": "203.0.113.10", "protocol": "tcp",
                                "port": 80, "backends": [{"address": "10.2.0.1", "port": 8080,
                                                          "weight": 3}]}))
    vs = ctl.json("virtual-services", "create", "-f", str(body))
    assert vs["backends"] == [{"address": "10.2.0.1", "port": 8080, "weight": 3}]
    # KEY=VALUE: numbers, lists and objects are JSON, the rest text
    ctl.ok("virtual-services", "create", "name=api", "address=203.0.113.11", "protocol=tcp",
           "port=443", 'backends=[{"address": "10.2.0.2", "port": 8443}]')
    table = ctl.ok("virtual-services", "list").splitlines()
    assert table[0].split()[:3] == ["id", "name", "customer"], table[0]
    assert [line.split()[1] for line in table[1:]] == ["www", "api"], table
    shown = ctl.ok("virtual-services", "show", "2")
    assert any(line.split() == ["port", "443"] for line in shown.splitlines()), shown
    assert ctl.json("virtual-services", "update", "2", "port=8443")["port"] == 8443
    replaced = ctl.json("interfaces", "replace", "1", "name=eth9")
    assert replaced["description"] is None, "a replace resets what it does not name"
    assert ctl.ok("virtual-services", "delete", "2") == ""
    rc, _, err = ctl("virtual-services", "show", "2")
    assert rc == 1 and "404 not-found" in err, (rc, err)
    assert [v["name"] for v in ctl.json("virtual-services")] == ["www"]


def test_the_apis_errors_read_as_one_line(ctl):
    rc, out, err = ctl("virtual-services", "create", "name=bad", "address=203.0.113.10",
                       "protocol=tcp", "port=80", 'backends=[{"address": "fd00::1", "port": 80}]')
    assert rc == 4 and out == ""
    assert err.startswith("loomctl: 422 invalid-value: ") and "(field backends[0].address)" in err, err
    rc, _, err = ctl("devices", "create", "name")
    assert rc == 2 and "'name' is not KEY=VALUE" in err, err
    rc, _, err = ctl("--api", "http://127.0.0.1:1", "interfaces")
    assert rc == 3 and "cannot reach the API" in err, err


def test_versions_and_rollback(ctl):
    ctl.ok("customers", "create", "name=acme")
    before = ctl.json("version", "show", "current")["version"]
    ctl.ok("customers", "create", "name=initech")
    versions = ctl.json("version", "list")
    assert versions[0]["version"] == before + 1 and versions[0]["change"] == "create customers 2"
    assert "create customers 2" in ctl.ok("version")
    back = ctl.json("version", "rollback", str(before))
    assert back["change"] == f"rollback to {before}"
    assert [c["name"] for c in ctl.json("customers")] == ["acme"]
    rendered = ctl.json("version", "render", "current", "svc-mgr")
    assert rendered["target"] == "svc-mgr" and rendered["services"] == []
    assert ctl.json("push") == [], "no daemons configured"
