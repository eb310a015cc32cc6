# SPDX-License-Identifier: LGPL-2.1-or-later
"""The web UI in a real browser (ui_test.mjs: Playwright driving Debian's
Chromium, headless) against a real loom-provisioner, then the API asked
whether what the browser built is there. Screenshots go to WEBUI_OUTPUT (the
test's build directory under meson)."""
import os
import shutil
import subprocess

import pytest

from conftest import ADMIN_PASSWORD

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = os.environ.get("WEBUI_CHROMIUM", "/usr/bin/chromium")


def node_modules():
    """playwright-core at the version package-lock.json pins, installed on first use."""
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE,
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, f"npm ci in {HERE} failed:\n{r.stdout}\n{r.stderr}"


@pytest.fixture
def browser():
    """Skips (before any daemon starts) without Chromium or Node."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("no node or npm (Debian packages nodejs, npm)")
    node_modules()


def test_browser_builds_a_chain(browser, prov):
    out = os.environ.get("WEBUI_OUTPUT", prov.topo.tmp)
    env = dict(os.environ, WEBUI_URL=f"http://127.0.0.1:{prov.port}/",
               WEBUI_PASSWORD=ADMIN_PASSWORD, WEBUI_OUTPUT=out, WEBUI_CHROMIUM=CHROMIUM)
    r = subprocess.run(["node", os.path.join(HERE, "ui_test.mjs")], env=env, cwd=HERE,
                       capture_output=True, text=True, timeout=90)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, f"the browser test failed:\n{r.stdout}\n{r.stderr}"
    assert os.path.getsize(os.path.join(out, "webui-services.png")) > 1000

    # what the browser built, as the API has it
    status, services = prov.call("GET", "services", token=prov.token)
    assert status == 200, services
    status, devices = prov.call("GET", "devices", token=prov.token)
    assert status == 200, devices
    ids = {d["name"]: d["id"] for d in devices}
    assert [(s["name"], s["address"], s["devices"], s["order"]) for s in services] == \
        [("web", "198.51.100.10", [ids["fw1"], ids["ids1"]], [1, 0])]
    status, render = prov.call("GET", "versions/current/render/pkt-engine", token=prov.token)
    assert status == 200, render
    assert [st["device"]["name"] for st in render["services"][0]["steps"]] == ["ids1", "fw1"]
