# SPDX-License-Identifier: LGPL-2.1-or-later
"""The web UI's tests use the REST API tests' daemon: loom-provisioner on
127.0.0.1 with a temporary database, stopped and removed afterwards, its log
printed when a test fails (tests/integration/prov/conftest.py). The browser
tests need Chromium, Node and playwright-core (the `browser` fixture)."""
import importlib.util
import os
import shutil
import subprocess

import pytest

_spec = importlib.util.spec_from_file_location(
    "prov_conftest", os.path.join(os.path.dirname(__file__), "..", "prov", "conftest.py"))
_prov = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_prov)

ADMIN_PASSWORD = _prov.ADMIN_PASSWORD
prov = _prov.prov
pytest_runtest_makereport = _prov.pytest_runtest_makereport

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


def run_ui(script, env, timeout):
    """node script with env added; its output printed, its exit code checked."""
    r = subprocess.run(["node", os.path.join(HERE, script)], env=dict(os.environ, **env),
                       cwd=HERE, capture_output=True, text=True, timeout=timeout)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, f"the browser test failed:\n{r.stdout}\n{r.stderr}"
