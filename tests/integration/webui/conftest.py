# SPDX-License-Identifier: LGPL-2.1-or-later
"""The web UI's tests use the REST API tests' daemon: loom-provisioner on
127.0.0.1 with a temporary database, stopped and removed afterwards, its log
printed when a test fails (tests/integration/prov/conftest.py)."""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "prov_conftest", os.path.join(os.path.dirname(__file__), "..", "prov", "conftest.py"))
_prov = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_prov)

ADMIN_PASSWORD = _prov.ADMIN_PASSWORD
prov = _prov.prov
pytest_runtest_makereport = _prov.pytest_runtest_makereport
