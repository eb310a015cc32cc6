# SPDX-License-Identifier: LGPL-2.1-or-later
"""Namespace topologies for loom-svc-mgr with loom-fwd-agent: clients,
routers where agents run (AF_PACKET, the kernel's forwarding off), managers
(ipc:// endpoints in the test's temporary directory), nginx servers on a
bridge, each with its own access log. Every name is unique to the test
process; everything a test creates is removed afterwards, also when it
fails. Every wait is bounded."""
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

AGENT = os.environ.get("LOOM_AGENT", "")
SVC_MGR = os.environ.get("LOOM_SVC_MGR", "")
LOOMCTL = os.environ.get("LOOM_CTL", "")

# one line per request: the client's address and port, the URI, the status
LOG_FORMAT = "$remote_addr:$remote_port $request_uri $status $body_bytes_sent"


def sh(*args, check=True, timeout=30, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout,
                          **kw)


def ns_run(ns, *args, check=True, timeout=30):
    return sh("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)


def wait_until(pred, timeout, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def settled(get, done, timeout, step=0.02):
    """get() once done() holds for it, bounded: then the last value as it is,
    for the caller's assertion to show what is missing."""
    end = time.monotonic() + timeout
    while not done(got := get()) and time.monotonic() < end:
        time.sleep(step)
    return got


def cpu_seconds(pid):
    """User + system time of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class NotifySocket:
    """A notify socket of the test's own, as systemd's would be: a daemon
    started with `env` says READY=1 on it once it serves (loom_daemon_ready:
    workers running, every socket and endpoint open), which no log line
    promises. Removed when the `with` block ends."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.env = dict(os.environ, NOTIFY_SOCKET=path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()
        os.unlink(self.path)

    def wait(self, proc, timeout, what, logs):
        """Until proc says READY=1; fails (with logs()) if it exits first or
        stays silent for timeout seconds."""
        end = time.monotonic() + timeout
        while True:
            try:
                if b"READY=1" in self.sock.recv(256):
                    return
            except socket.timeout:
                pass
            assert proc.poll() is None, f"{what} exited at start:\n{logs()}"
            assert time.monotonic() < end, f"{what} never said READY=1:\n{logs()}"


class Daemon:
    """A process run in a namespace; its log is appended across restarts.
    Ready when its log shows `ready`, or, with notify set, when it says
    READY=1 on a notify socket."""

    notify = False

    def __init__(self, topo, name, ns, argv, ready):
        self.topo, self.name, self.ns, self.argv, self.ready = topo, name, ns, argv, ready
        self.log_path = os.path.join(topo.tmp, f"{name}.log")
        self.proc = None
        self.started_at = 0.0
        self.run_offset = 0  # where this run's lines start in the log

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def start(self, timeout=15):
        """Start and wait until it is ready in this run (bounded)."""
        offset = self.run_offset = len(self.log())
        argv = ["ip", "netns", "exec", self.ns] + self.argv
        with open(self.log_path, "a") as log:
            self.started_at = time.monotonic()
            if self.notify:
                with NotifySocket(os.path.join(self.topo.tmp, f"{self.name}.notify")) as ready:
                    self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                 env=ready.env)
                    ready.wait(self.proc, timeout, self.name, self.log)
                return self
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

        def up():
            assert self.proc.poll() is None, f"{self.name} exited at start:\n{self.log()}"
            return self.ready in self.log()[offset:]
        wait_until(up, timeout, what=f"{self.name} to start")
        return self

    def this_run(self):
        """The log of the current run (since the last start)."""
        return self.log()[self.run_offset:]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5):
        """SIGTERM (counters written); it must end cleanly and in time."""
        assert self.running(), f"{self.name} died:\n{self.log()[-3000:]}"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not stop on SIGTERM")
        assert rc == 0, f"{self.name} exited with {rc}:\n{self.log()[-3000:]}"

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)


class Manager(Daemon):
    notify = True

    def __init__(self, topo, name, ns, services, extra=""):
        self.instance = f"{topo.prefix}{name}"
        self.endpoint = f"ipc://{topo.tmp}/{name}.sock"
        self.config = os.path.join(topo.tmp, f"{name}.yaml")
        self.stats_path = os.path.join(topo.tmp, f"{name}.stats")
        self.extra = extra
        super().__init__(topo, name, ns, [SVC_MGR, "-c", self.config, "-l", "info"],
                         "running: instance")
        self.write(services)

    def write(self, services):
        """The configuration with these services (YAML text of the list)."""
        with open(self.config, "w") as f:
            f.write(f"""instance: {self.instance}
host-name: {self.name}
listen: [ "{self.endpoint}" ]
flows: 4096
stats-file: {self.stats_path}
{self.extra}services:
{services}""")

    def reload(self, services, timeout=5):
        """Rewrite the services and SIGHUP; wait for the reload's log line."""
        n = self.log().count("reloaded ")
        self.write(services)
        self.hup()
        wait_until(lambda: self.log().count("reloaded ") > n, timeout, what="the reload")

    def stats(self):
        """Counters the manager wrote at exit (SVC_CTR_LIST names)."""
        out = {}
        with open(self.stats_path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit():
                    out[parts[0]] = int(parts[1])
        return out

    def service(self, name):
        return self.topo.ctl(self.instance, "service", "show", name)["service"]

    def wait_agent(self, agent, timeout=10):
        """Until this run of the manager has heard the agent's hello (an
        agent reconnects to a restarted manager on its own schedule: its
        first packets before then are not this manager's to decide)."""
        wait_until(lambda: f"agent {agent.name} (" in self.this_run(), timeout,
                   what=f"agent {agent.name} to say hello to {self.name}")

    def flows(self, *args):
        return self.topo.ctl(self.instance, "flow", "list", *args)


class Agent(Daemon):
    notify = True

    def __init__(self, topo, name, ns, interfaces, managers, extra=""):
        self.instance = f"{topo.prefix}{name}"
        self.config = os.path.join(topo.tmp, f"{name}.yaml")
        ifs = "".join(f"  - name: {i}\n" for i in interfaces)
        mgrs = "".join(f"  - endpoint: \"{m.endpoint}\"\n" for m in managers)
        with open(self.config, "w") as f:
            f.write(f"""instance: {self.instance}
host-name: {name}
backend: afpacket
workers: 1
ring-frames: 64
fixed-affinities: 4096
stats-file: {topo.tmp}/{name}.stats
{extra}interfaces:
{ifs}managers:
{mgrs}""")
        super().__init__(topo, name, ns, [AGENT, "-c", self.config, "-l", "info"],
                         "running: instance")

    def wildcards(self):
        return self.topo.ctl(self.instance, "affinity", "list", "-w")["wildcards"]

    def wait_wildcards(self, n, timeout=10):
        """Until the managers' wildcards (n of them) are installed."""
        wait_until(lambda: len(self.wildcards()) >= n, timeout,
                   what=f"{n} wildcards in agent {self.name}")


class Nginx(Daemon):
    """nginx without a master process, so one SIGKILL stops it all."""

    def __init__(self, topo, name, ns, body):
        d = os.path.join(topo.tmp, name)
        self.dir, self.www = d, os.path.join(d, "www")
        os.makedirs(self.www, exist_ok=True)
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        with open(os.path.join(self.www, "index.html"), "w") as f:
            f.write(body)
        self.access = os.path.join(d, "access.log")
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off; master_process off; pid {d}/nginx.pid;
error_log {d}/error.log; worker_processes 1; events {{ worker_connections 256; }}
http {{ log_format loom '{LOG_FORMAT}'; access_log {self.access} loom;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp; keepalive_timeout 0;
  server {{ listen 80; listen [::]:80; root {self.www}; }} }}
""")
        super().__init__(topo, name, ns, ["nginx", "-c", conf], "")
        self.body = body

    def start(self, timeout=10):
        super().start(timeout)
        wait_until(lambda: ":80 " in ns_run(self.ns, "ss", "-Hltn").stdout, timeout,
                   what=f"{self.name} to listen")
        return self

    def lines(self):
        """Access log lines: (address, port, uri, status)."""
        out = []
        try:
            with open(self.access) as f:
                for line in f:
                    ep, uri, status = line.split()[:3]
                    addr, port = ep.rsplit(":", 1)
                    out.append((addr, int(port), uri, int(status)))
        except FileNotFoundError:
            pass
        return out

    def wait_lines(self, n, timeout=5):
        """lines() once there are n (bounded; then as they are): nginx logs a
        request after its answer went out, so curl may be done a moment
        before the last line is written."""
        return settled(self.lines, lambda got: len(got) >= n, timeout)

    def requests_from(self, addr):
        """Requests from this client address (not the health checks)."""
        return [ln for ln in self.lines() if ln[0] == addr]

    def put_file(self, name, size):
        data = os.urandom(size)
        with open(os.path.join(self.www, name), "wb") as f:
            f.write(data)
        return hashlib.sha256(data).hexdigest()


class Topo:
    """Builds namespaces and links; owns every daemon it starts."""

    def __init__(self, tag, tmp):
        self.prefix = f"sv{tag}"
        self.tmp = tmp
        self.namespaces = []
        self.daemons = []

    def netns(self, role, forwarding=True):
        ns = f"{self.prefix}{role}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        ns_run(ns, "ip", "link", "set", "lo", "up")
        if not forwarding:
            # the agent forwards; the kernel of its router must not
            ns_run(ns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
            ns_run(ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
        return ns

    @staticmethod
    def addr(ns, dev, *addrs):
        for a in addrs:
            extra = ("nodad",) if ":" in a else ()
            ns_run(ns, "ip", "addr", "add", a, "dev", dev, *extra)

    def veth(self, ns_a, dev_a, ns_b, dev_b, addrs_a=(), addrs_b=()):
        sh("ip", "link", "add", dev_a, "netns", ns_a, "type", "veth", "peer", "name", dev_b,
           "netns", ns_b)
        for ns, dev, addrs in ((ns_a, dev_a, addrs_a), (ns_b, dev_b, addrs_b)):
            self.addr(ns, dev, *addrs)
            ns_run(ns, "ip", "link", "set", dev, "up")

    def bridge(self, ns, dev, addrs=()):
        ns_run(ns, "ip", "link", "add", dev, "type", "bridge")
        self.addr(ns, dev, *addrs)
        ns_run(ns, "ip", "link", "set", dev, "up")

    def bridge_port(self, ns_host, dev_host, bridge_ns, bridge, port, addrs=()):
        self.veth(ns_host, dev_host, bridge_ns, port, addrs)
        ns_run(bridge_ns, "ip", "link", "set", port, "master", bridge)

    @staticmethod
    def route(ns, *args):
        six = ("-6",) if any(":" in a for a in args) else ()
        ns_run(ns, "ip", *six, "route", "add", *args)

    @staticmethod
    def warm_neighbours(ns, *addrs):
        """The agent drops a packet whose neighbour is unknown (its sender
        retransmits a second later): let the router's kernel learn them."""
        for a in addrs:
            ns_run(ns, "ping", "-c", "1", "-W", "1", a, check=False)

    @staticmethod
    def small_receive_buffer(ns):
        """A rate-limited download stays on the wire to its end instead of
        landing in the client's socket buffer early."""
        ns_run(ns, "sysctl", "-qw", "net.ipv4.tcp_rmem=4096 65536 131072")

    # ---- daemons ----

    def manager(self, name, ns, services, extra=""):
        m = Manager(self, name, ns, services, extra)
        self.daemons.append(m)
        return m.start()

    def agent(self, name, ns, interfaces, managers, extra=""):
        a = Agent(self, name, ns, interfaces, managers, extra)
        self.daemons.append(a)
        return a.start()

    def nginx(self, name, ns, body=None):
        n = Nginx(self, name, ns, body or f"hello from {name}\n")
        self.daemons.append(n)
        return n.start()

    def ctl(self, instance, *args):
        r = sh(LOOMCTL, "-i", instance, *args, "--json", check=False)
        assert r.returncode == 0, f"loomctl -i {instance} {' '.join(args)}: {r.stderr}"
        return json.loads(r.stdout)

    def curl(self, ns, url, *args, timeout=10):
        """One request; (exit status, body)."""
        r = ns_run(ns, "curl", "-s", "--max-time", str(timeout), *args, url, check=False,
                   timeout=timeout + 5)
        return r.returncode, r.stdout

    def curl_many(self, ns, url, n, *args, timeout=60):
        """n requests in one curl, each on a new TCP connection (the servers
        close after every answer). Returns the HTTP codes."""
        cmd = ["curl", "-s", "--max-time", "5", "-w", "%{http_code}\\n", *args]
        cmd += ["-o", "/dev/null", url] * n
        r = ns_run(ns, *cmd, check=False, timeout=timeout)
        return [int(c) for c in r.stdout.split()]

    def logs(self):
        out = ""
        for d in self.daemons:
            out += f"--- {d.name} ({d.log_path})\n{d.log()[-5000:]}"
        return out

    def down(self):
        for d in reversed(self.daemons):
            try:
                if d.running():
                    d.proc.send_signal(signal.SIGTERM)
                    try:
                        d.proc.wait(5)
                    except subprocess.TimeoutExpired:
                        d.proc.kill()
                        d.proc.wait()
            except Exception:  # noqa: BLE001 -- go on removing the rest
                pass
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        for seg in glob.glob(f"/dev/shm/loom.{self.prefix}*"):
            try:
                os.unlink(seg)
            except FileNotFoundError:
                pass

    # ---- the usual load-balancing lab ----

    def lb_lab(self, servers=3, clients=("10.1.0.2/24",)):
        """cli (c0: clients, fd01::2) -- rtr (a0 10.1.0.1, br0 10.2.0.1) --
        srv1..N (10.2.0.1N, fd02::1N) on the bridge br0 in the router."""
        self.cli = self.netns("cli")
        self.rtr = self.netns("rtr", forwarding=False)
        self.veth(self.cli, "c0", self.rtr, "a0", (*clients, "fd01::2/64"),
                  ("10.1.0.1/24", "fd01::1/64"))
        self.route(self.cli, "default", "via", "10.1.0.1")
        self.route(self.cli, "default", "via", "fd01::1")
        self.bridge(self.rtr, "br0", ("10.2.0.1/24", "fd02::1/64"))
        self.srv, self.servers = [], []
        for i in range(1, servers + 1):
            ns = self.netns(f"s{i}")
            self.bridge_port(ns, "eth0", self.rtr, "br0", f"p{i}",
                             (f"10.2.0.1{i}/24", f"fd02::1{i}/64"))
            self.route(ns, "default", "via", "10.2.0.1")
            self.route(ns, "default", "via", "fd02::1")
            self.srv.append(ns)
            self.servers.append(self.nginx(f"srv{i}", ns))
        self.warm_neighbours(self.rtr, *[c.split("/")[0] for c in clients],
                             *[f"10.2.0.1{i}" for i in range(1, servers + 1)])
        self.warm_neighbours(self.rtr, "fd01::2",
                             *[f"fd02::1{i}" for i in range(1, servers + 1)])
        return self


def backends_yaml(weights, port=80, prefix="10.2.0.1"):
    return "".join(f"      - {{ address: {prefix}{i + 1}, weight: {w} }}\n"
                   for i, w in enumerate(weights))


def served_by(servers, client, total=None, timeout=5):
    """How many requests from this client address each server logged; with
    total, once they add up to it (bounded, as Nginx.wait_lines)."""
    return settled(lambda: [len(s.requests_from(client)) for s in servers],
                   lambda got: total is None or sum(got) >= total, timeout)


@pytest.fixture
def topo(request):
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if not (AGENT and SVC_MGR and LOOMCTL):
        pytest.skip("LOOM_AGENT, LOOM_SVC_MGR and LOOM_CTL must be set")
    tmp = tempfile.mkdtemp(prefix="loom-svc-")
    os.chmod(tmp, 0o755)
    t = Topo(f"{os.getpid() % 100000}", tmp)
    try:
        yield t
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed:
            print(t.logs())
        t.down()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)

