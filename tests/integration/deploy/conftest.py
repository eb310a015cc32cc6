# SPDX-License-Identifier: LGPL-2.1-or-later
"""The supervised lab (deploy/lab.sh up --supervised) under a name of its
own, so it never meets the demo lab or another test's namespaces; it is
removed after the module, also when a test or the start-up fails. The
helpers for commands and bounded waits are the svc tests' (imported)."""
import importlib.util
import json
import os
import pwd
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
BUILD = os.environ.get("LOOM_BUILD", os.path.join(ROOT, "build"))

_spec = importlib.util.spec_from_file_location(
    "loom_svc_conftest", os.path.join(ROOT, "tests", "integration", "svc", "conftest.py"))
_svc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_svc)
sh, ns_run, wait_until = _svc.sh, _svc.ns_run, _svc.wait_until

# What each daemon runs as (deploy/systemd/loom.sysusers) and the
# capabilities it keeps (its code; the units' AmbientCapabilities=).
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13
EXPECTED = {
    "loom-fwd-agent": ("loom-agent", {CAP_NET_RAW, CAP_NET_ADMIN}),
    "loom-svc-mgr": ("loom-svcmgr", set()),
    "loom-pkt-engine": ("loom-engine", {CAP_NET_RAW, CAP_NET_ADMIN}),
    "loom-provisioner": ("loom-prov", set()),
}


def proc_status(pid):
    """/proc/<pid>/status as a dict of its fields, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None


def cap_set(mask_hex):
    mask = int(mask_hex, 16)
    return {c for c in range(64) if mask >> c & 1}


class Lab:
    def __init__(self, name):
        self.name = name
        self.run = f"/run/{name}-lab"
        self.instance = name
        self.cli = f"{name}-cli"
        self.env = dict(os.environ, LOOM_LAB=name, LOOM_BUILD=BUILD, LOOM_NO_BUILD="1")

    def lab_sh(self, *args, timeout=90):
        return subprocess.run([os.path.join(ROOT, "deploy", "lab.sh"), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def services(self):
        """The daemons the supervisor runs (the lab skips those not built)."""
        d = os.path.join(self.run, "service")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def pid(self, daemon):
        """The daemon's pid as runsv has it, or None while it is down."""
        try:
            with open(os.path.join(self.run, "service", daemon, "supervise", "pid")) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None

    def dropped(self, daemon):
        """(pid, status) once the daemon runs as its own user, else None."""
        pid = self.pid(daemon)
        st = proc_status(pid) if pid else None
        user = EXPECTED[daemon][0]
        if st and st["Uid"].split() == [str(uid_of(user))] * 4:
            return pid, st
        return None

    def api_login(self):
        """The provisioner's API takes the lab administrator's password."""
        with open(f"{self.run}/prov/admin.pw") as f:
            pw = f.read().strip()
        r = ns_run(self.cli, "curl", "-s", "--max-time", "2", "-X", "POST", "-H",
                   "Content-Type: application/json", "-d",
                   json.dumps({"user": "admin", "password": pw}),
                   "http://10.1.0.1:8080/api/v1/login", check=False, timeout=7)
        return r.returncode == 0 and "token" in r.stdout

    def curl(self, url="http://10.9.0.1/", timeout=2):
        r = ns_run(self.cli, "curl", "-s", "--max-time", str(timeout), url, check=False,
                   timeout=timeout + 5)
        return r.stdout if r.returncode == 0 else ""

    def wait(self, pred, timeout, what):
        """wait_until, with the daemons' logs in the failure."""
        try:
            return wait_until(pred, timeout, step=0.1, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.logs()}") from None

    def logs(self):
        out = []
        for d in self.services():
            p = os.path.join(self.run, "log", d, "current")
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append(f"== {d}\n" + f.read()[-3000:])
        return "\n".join(out)


def uid_of(user):
    return pwd.getpwnam(user).pw_uid


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    for exe in ("fwd-agent/loom-fwd-agent", "svc-mgr/loom-svc-mgr"):
        if not os.access(os.path.join(BUILD, exe), os.X_OK):
            pytest.skip(f"{exe} is not built in {BUILD}")
    lab = Lab(f"deploy{os.getpid() % 100000}")
    try:
        r = lab.lab_sh("up", "--supervised")
        assert r.returncode == 0, f"lab.sh up --supervised failed:\n{r.stdout}\n{r.stderr}\n" \
                                  f"{lab.logs()}"
        yield lab
    finally:
        r = lab.lab_sh("down", timeout=60)
        assert r.returncode == 0, f"lab.sh down failed:\n{r.stdout}\n{r.stderr}"
