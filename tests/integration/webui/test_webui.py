# SPDX-License-Identifier: LGPL-2.1-or-later
"""The web UI in a real browser (ui_test.mjs: Playwright driving Debian's
Chromium, headless) against a real loom-provisioner, then the API asked
whether what the browser built is there. Screenshots go to WEBUI_OUTPUT (the
test's build directory under meson)."""
import os

from conftest import ADMIN_PASSWORD, CHROMIUM, run_ui


def test_browser_builds_a_chain(browser, prov):
    out = os.environ.get("WEBUI_OUTPUT", prov.topo.tmp)
    run_ui("ui_test.mjs", {"WEBUI_URL": f"http://127.0.0.1:{prov.port}/",
                           "WEBUI_PASSWORD": ADMIN_PASSWORD, "WEBUI_OUTPUT": out,
                           "WEBUI_CHROMIUM": CHROMIUM}, timeout=90)
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
    # the engine's definitions: the chain by device name, in traffic order
    assert render["services"][0]["chain"] == ["ids1", "fw1"], render
    # the replica's trial stays on record after the rollbacks took the replica away
    status, trials = prov.call("GET", "trials", token=prov.token)
    assert status == 200 and [t["state"] for t in trials] == ["failed"], trials
    assert "no engine" in trials[0]["report"]["reason"], trials
