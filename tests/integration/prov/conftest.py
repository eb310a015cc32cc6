# SPDX-License-Identifier: LGPL-2.1-or-later
"""loom-provisioner started for real on 127.0.0.1 with a temporary database
and an admin whose password is in a 0600 file. Every test gets its own
daemon; everything it created (process, directory) goes afterwards, also
when it fails, and the daemon's log is printed when it fails. Every wait is
bounded."""
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import tempfile
import types
import http.client

import pytest

PROVISIONER = os.environ.get("LOOM_PROVISIONER", "")
ADMIN_PASSWORD = "admin-password-1"

# wait_until comes from the svc tests' helpers (loaded by path: both are conftest.py)
_spec = importlib.util.spec_from_file_location(
    "svc_conftest", os.path.join(os.path.dirname(__file__), "..", "svc", "conftest.py"))
_svc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_svc)
wait_until = _svc.wait_until


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Provisioner(_svc.Daemon):
    """The svc tests' Daemon (log, stop with a clean exit, kill), started
    without a namespace: the API needs none."""

    def __init__(self, tmp, request_limit="16K", extra=""):
        self.port = free_port()
        self.db = os.path.join(tmp, "prov.db")
        pw = os.path.join(tmp, "admin.pw")
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (ADMIN_PASSWORD + "\n").encode())
        os.close(fd)
        config = os.path.join(tmp, "provisioner.yaml")
        with open(config, "w") as f:
            f.write(f"listen-address: 127.0.0.1\nport: {self.port}\ndatabase: {self.db}\n"
                    f"request-limit: {request_limit}\ntoken-lifetime: 10m\n"
                    f"admin-user: admin\nadmin-password-file: {pw}\nlog-level: info\n"
                    f"{extra}")
        super().__init__(types.SimpleNamespace(tmp=tmp), "provisioner", None,
                         [PROVISIONER, "-c", config], "ready:")

    def start(self, timeout=15):
        offset = len(self.log())
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)

        def up():
            return self.proc.poll() is not None or self.ready in self.log()[offset:]
        wait_until(up, timeout, what="loom-provisioner ready")
        assert self.proc.poll() is None, f"loom-provisioner exited:\n{self.log()}"

    def restart(self):
        self.stop(timeout=10)
        self.start()

    def raw(self, method, path, body=b"", headers=None, timeout=30):
        """Send body bytes as they are; (status, headers, parsed JSON or None)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), json.loads(data) if data else None
        finally:
            c.close()

    def call(self, method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if body is not None else b""
        status, _, doc = self.raw(method, "/api/v1/" + path, data, headers)
        return status, doc

    def login(self, user="admin", password=ADMIN_PASSWORD):
        status, doc = self.call("POST", "login", {"user": user, "password": password})
        assert status == 200, doc
        return doc["token"]


@pytest.fixture
def prov(request):
    if not PROVISIONER:
        pytest.skip("LOOM_PROVISIONER is not set (run through meson test)")
    tmp = tempfile.mkdtemp(prefix="prov-test-")
    p = Provisioner(tmp, **getattr(request, "param", {}))
    try:
        p.start()
        p.token = p.login()
        yield p
        # a clean exit: no leak or undefined behaviour reported under the sanitizers
        p.stop(timeout=10)
        assert "Sanitizer" not in p.log() and "runtime error" not in p.log(), p.log()
    finally:
        if p.running():
            p.kill()
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(f"--- loom-provisioner log ---\n{p.log()}")
        shutil.rmtree(tmp, ignore_errors=True)


# the svc tests' hook: records each phase's report on the test, for the log dump above
pytest_runtest_makereport = _svc.pytest_runtest_makereport


@contextlib.contextmanager
def provisioned_engine(elab, extra=""):
    """The engine lab's (tests/integration/engine) engine, provisioned over ipc
    by a provisioner of its own (extra: more of its configuration); yields
    the lab with .prov. The firewalls are made one-armed (back to the engine
    on the link they were reached on), the simplest model of a device; a test
    may give one its second arm back (out_segment, out_mac)."""
    for fw, engine_addr in (("fw", "10.3.0.1"), ("fw2", "10.5.0.1")):
        _svc.ns_run(elab.ns[fw], "ip", "route", "replace", "10.9.0.0/24", "via", engine_addr)
    sock = f"ipc://{elab.tmp}/engine-prov.sock"
    elab.start_engine(services="  []\n",
                      top=f'probe-interval: 0ms\nprovisioning:\n  listen: "{sock}"')
    prov = Provisioner(elab.tmp, extra="push-retry: 200ms\ntargets:\n"
                       f'  - {{ name: eng, kind: pkt-engine, endpoint: "{sock}" }}\n' + extra)
    try:
        prov.start()
        prov.token = prov.login()
        elab.prov = prov
        yield elab
        prov.stop(timeout=10)
        log = prov.log() + elab.logs()
        assert "Sanitizer" not in log and "runtime error" not in log, log
    finally:
        if prov.running():
            prov.kill()
