# SPDX-License-Identifier: LGPL-2.1-or-later
"""Network-namespace fixtures: a client, a router where loom-fwd-agent runs,
and a server with nginx. Everything a test creates has a name unique to the
test process and is removed afterwards, also when the test fails."""
import glob
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

# the svc tests' helpers (loaded by path: both are conftest.py)
_spec = importlib.util.spec_from_file_location(
    "loom_svc_helpers", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "svc",
                                     "conftest.py"))
_svc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_svc)

cpu_seconds = _svc.cpu_seconds

AGENT = os.environ.get("LOOM_AGENT", "")


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


def ns_run(ns, *args, check=True, timeout=30):
    return sh("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)


def stop_all(procs):
    """SIGTERM to each process still running, SIGKILL if it outlives 5 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_until(pred, timeout, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Lab:
    """cli 10.1.0.2 -- c0|a0 agent a1|s0 -- srv 10.2.0.11 (and IPv6 fd01::/64, fd02::/64)."""

    def __init__(self, tag, tmp):
        self.tag = tag
        self.tmp = tmp
        self.cli, self.rtr, self.srv = f"lc{tag}", f"lr{tag}", f"ls{tag}"
        self.procs = []

    def up(self):
        for ns in (self.cli, self.rtr, self.srv):
            sh("ip", "netns", "add", ns)
            ns_run(ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "c0", "netns", self.cli, "type", "veth", "peer", "name", "a0",
           "netns", self.rtr)
        sh("ip", "link", "add", "s0", "netns", self.srv, "type", "veth", "peer", "name", "a1",
           "netns", self.rtr)
        for ns, dev, a4, a6 in ((self.cli, "c0", "10.1.0.2/24", "fd01::2/64"),
                                (self.rtr, "a0", "10.1.0.1/24", "fd01::1/64"),
                                (self.rtr, "a1", "10.2.0.1/24", "fd02::1/64"),
                                (self.srv, "s0", "10.2.0.11/24", "fd02::11/64")):
            ns_run(ns, "ip", "addr", "add", a4, "dev", dev)
            ns_run(ns, "ip", "-6", "addr", "add", a6, "dev", dev, "nodad")
            ns_run(ns, "ip", "link", "set", dev, "up")
        ns_run(self.cli, "ip", "route", "add", "default", "via", "10.1.0.1")
        ns_run(self.cli, "ip", "-6", "route", "add", "default", "via", "fd01::1")
        ns_run(self.srv, "ip", "route", "add", "default", "via", "10.2.0.1")
        ns_run(self.srv, "ip", "-6", "route", "add", "default", "via", "fd02::1")
        # the agent forwards; the kernel of the router must not
        ns_run(self.rtr, "sysctl", "-qw", "net.ipv4.ip_forward=0")
        ns_run(self.rtr, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")

    def nginx(self):
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(os.path.join(d, "www"), exist_ok=True)
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        with open(os.path.join(d, "www", "index.html"), "w") as f:
            f.write("hello from srv\n")
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon on; pid {d}/nginx.pid; error_log {d}/error.log;
worker_processes 1; events {{ worker_connections 64; }}
http {{ access_log {d}/access.log; client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{ listen 80; listen [::]:80; root {d}/www; }} }}
""")
        ns_run(self.srv, "nginx", "-c", conf)
        self.nginx_dir = d
        wait_until(lambda: os.path.exists(f"{d}/nginx.pid"), 5, what="nginx")

    def access_log(self, lines=0):
        """nginx's access log; with lines, once it has that many (bounded):
        nginx logs a request after its answer went out."""
        def read():
            with open(os.path.join(self.nginx_dir, "access.log")) as f:
                return f.read()
        return _svc.settled(read, lambda text: text.count("\n") >= lines, 5)

    def agent_config(self, managers=(), extra="", backend="afpacket", workers=2):
        path = os.path.join(self.tmp, "agent.yaml")
        mgr = "".join(f"  - endpoint: \"{m}\"\n" for m in managers)
        with open(path, "w") as f:
            f.write(f"""instance: ns{self.tag}
backend: {backend}
workers: {workers}
ring-frames: 64
fixed-affinities: 4096
stats-file: {self.tmp}/stats
interfaces:
  - name: a0
  - name: a1
{"managers:" + chr(10) + mgr if managers else ""}{extra}""")
        return path

    def start_agent(self, config, *extra):
        """loom-fwd-agent in the router, once it says READY=1 (workers
        running, routes mirrored; after --takeover, the tables taken over)."""
        log_path = os.path.join(self.tmp, f"agent{len(self.procs)}.log")
        notify = os.path.join(self.tmp, f"notify{len(self.procs)}")
        with open(log_path, "w") as log, _svc.NotifySocket(notify) as ready:
            p = subprocess.Popen(["ip", "netns", "exec", self.rtr, AGENT, "-c", config,
                                  "-l", "info", *extra], stdout=log, stderr=subprocess.STDOUT,
                                 env=ready.env)
            p.log_path = log_path
            self.procs.append(p)
            ready.wait(p, 15, "loom-fwd-agent", self.logs)
        return p

    def wait_managers_heard(self, agent, timeout=10):
        """Until the agent has applied what its managers sent before their
        first heartbeat (their wildcards): traffic sent earlier takes the
        normal route."""
        wait_until(lambda: "every manager heard" in open(agent.log_path).read(), timeout,
                   what="the agent to hear its managers: " + self.logs())

    def logs(self):
        out = ""
        for name in sorted(os.listdir(self.tmp)):
            if name.endswith(".log"):
                with open(os.path.join(self.tmp, name)) as f:
                    out += f"--- {name}\n" + f.read()[-4000:]
        return out

    def down(self):
        stop_all(self.procs)
        if hasattr(self, "nginx_dir"):
            pid = os.path.join(self.nginx_dir, "nginx.pid")
            if os.path.exists(pid):
                try:
                    os.kill(int(open(pid).read()), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass
        for ns in (self.cli, self.rtr, self.srv):
            sh("ip", "netns", "del", ns, check=False)
        for seg in glob.glob(f"/dev/shm/loom.ns{self.tag}.*"):
            try:
                os.unlink(seg)
            except FileNotFoundError:
                pass


@pytest.fixture
def lab(request):
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if not AGENT:
        pytest.skip("LOOM_AGENT not set")
    tmp = tempfile.mkdtemp(prefix="loom-netns-")
    os.chmod(tmp, 0o755)  # nginx's workers run as www-data
    lab = Lab(f"{os.getpid() % 100000}", tmp)
    try:
        lab.up()
        yield lab
    except BaseException:
        print(lab.logs())
        raise
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(lab.logs())
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
