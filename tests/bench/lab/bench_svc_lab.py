# SPDX-License-Identifier: LGPL-2.1-or-later
"""The service lab benchmark (the manager issue, part a): new TCP connections
per second to a virtual address balanced over three nginx backends, the
router done two ways in one run:

  loom  the kernel's forwarding is off; loom-fwd-agent (AF_PACKET) sends the
        first packet of each connection to loom-svc-mgr (ipc://, one lb
        service, round robin, health checks off), which picks a backend and
        answers with the flow's fixed affinities (NAT both ways);
  nft   the kernel forwards and nftables DNATs the VIP with
        `dnat to numgen inc mod 3 map { 0 : A, 1 : B, 2 : C }` (prerouting);
        conntrack does the rest.

cli 10.1.0.2 -- c0|a0 router a1|s0 -- srv 10.2.0.11, .12, .13 (one
namespace, one nginx listening on the three, a 6-byte file, no access log,
no keepalive). VIP 10.9.0.80:80. Workloads (tests/bench/lab/httpc): cps1,
one connection at a time doing connect / GET / read to EOF / close in a
loop; cps64, 64 of them at once. Prints requests/s per mode, the ratio
loom/nft, the failures of each mode, and the manager's and the agent's
counters (decided should be about the number of connections). Never asserts
a figure; everything it creates is removed at the end, also on failure or
Ctrl-C.

Run as root with /usr/bin/python3:
  sudo /usr/bin/python3 tests/bench/lab/bench_svc_lab.py --build build [-t 5]
or `meson test -C build --benchmark svc-lab`.
"""
import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_lab import Failed, Lab, sh  # noqa: E402  (the shared namespace plumbing)

CLI, VIP, PORT = "10.1.0.2", "10.9.0.80", 80
SRC_FIRST = "10.1.0.100"  # the client's extra source addresses start here
BACKENDS = ("10.2.0.11", "10.2.0.12", "10.2.0.13")
MODES = ("loom", "nft")
WORKLOADS = {"cps1": 1, "cps64": 64}
# one GET to each address given, answered 200 (the lab's readiness checks)
PROBE = f"""import socket, sys
for a in sys.argv[1:]:
    s = socket.create_connection((a, {PORT}), timeout=1)
    s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
    assert s.recv(100).startswith(b"HTTP/1.1 200"), a
"""
TITLES = {"cps1": "new connections, serial (req/s)",
          "cps64": "new connections, 64 parallel (req/s)"}


class SvcLab(Lab):
    workers = 2
    sources = 64
    punt_rate = 1000000
    punt_burst = 100000

    def __init__(self, tools, secs):
        super().__init__(tools, secs, None)
        self.mgr_instance = f"lbm{self.tag}"
        self.nginx = None

    # ---- topology: bench_lab's three namespaces, three backends, nginx ------

    def up(self):
        super().up()
        # The kernel hands out source ports to one destination fast enough
        # to reuse one within seconds at these rates; the manager keeps a
        # closed flow (and the agents its fixed affinities) for its sticky
        # time, 4 s, so a reused port would be the old flow, not a new
        # decision. Many source addresses make every connection a new flow.
        # The router knows their MACs (and the backends') from the start: the
        # agent drops a packet whose neighbour is missing (the kernel would
        # queue it), which would cost the first connection to or from each
        # address a 1 s retransmission.
        base = [int(x) for x in SRC_FIRST.split(".")]
        mac = self.ns(self.cli, "cat", "/sys/class/net/c0/address").stdout.strip()
        for i in range(self.sources if self.sources > 1 else 0):
            addr = f"10.1.0.{base[3] + i}"
            self.ns(self.cli, "ip", "addr", "add", addr + "/24", "dev", "c0")
            self.ns(self.rtr, "ip", "neigh", "replace", addr, "lladdr", mac, "dev", "a0",
                    "nud", "permanent")
        mac = self.ns(self.srv, "cat", "/sys/class/net/s0/address").stdout.strip()
        for b in BACKENDS:
            self.ns(self.srv, "ip", "addr", "add", b + "/24", "dev", "s0")
            self.ns(self.rtr, "ip", "neigh", "replace", b, "lladdr", mac, "dev", "a1",
                    "nud", "permanent")
        # nginx closes first: its side keeps TIME_WAIT; the client's ports
        # are reused within seconds at these rates
        self.ns(self.srv, "sysctl", "-qw", "net.core.somaxconn=4096")
        self.ns(self.srv, "sysctl", "-qw", "net.ipv4.tcp_max_syn_backlog=4096")
        self.nginx_up()

    def nginx_up(self):
        www = os.path.join(self.tmp, "www")
        os.mkdir(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("hello\n")
        listen = "\n".join(f"    listen {b}:{PORT} backlog=4096;" for b in BACKENDS)
        temps = "\n".join(f"  {k}_temp_path {self.tmp}/{k};"
                          for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            # user root: the workers read a file in this process's 0700 temp dir
            f.write(f"""user root;
worker_processes 2;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_timeout 0;
{temps}
  server {{
{listen}
    root {www};
  }}
}}
""")
        self.nginx = self.spawn(self.srv, "nginx", "-c", conf, "-p", self.tmp, "-g",
                                "daemon off;", name="nginx")
        end = time.monotonic() + 10
        while self.ns(self.srv, "/usr/bin/python3", "-c", PROBE, *BACKENDS,
                      check=False).returncode:
            if time.monotonic() > end or self.nginx.poll() is not None:
                raise Failed("nginx does not serve: " + self.log_of(self.nginx)[-2000:])
            time.sleep(0.1)

    def down(self):
        super().down()  # stops nginx, the agent and the manager too
        for path in glob.glob(f"/dev/shm/loom.{self.mgr_instance}.*"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    # ---- the router, two ways -------------------------------------------------

    def mode_up(self, mode):
        if mode == "nft":
            self.forwarding(True)
            targets = ", ".join(f"{i} : {b}" for i, b in enumerate(BACKENDS))
            rules = f"""table ip {self.nft_table} {{
  chain pre {{
    type nat hook prerouting priority dstnat;
    ip daddr {VIP} tcp dport {PORT} dnat to numgen inc mod {len(BACKENDS)} map {{ {targets} }}
  }}
}}
"""
            path = os.path.join(self.tmp, "dnat.nft")
            with open(path, "w") as f:
                f.write(rules)
            self.ns(self.rtr, "nft", "-f", path)
            return
        self.forwarding(False)
        self.loom_up()

    def mode_down(self, mode):
        if mode == "nft":
            self.ns(self.rtr, "nft", "delete", "table", "ip", self.nft_table, check=False)
            self.forwarding(False)
            return {}, {}
        return self.loom_down()

    def loom_up(self):
        endpoint = f"ipc://{self.tmp}/svc.sock"
        self.mgr_stats = os.path.join(self.tmp, "svc.stats")
        self.stats_file = os.path.join(self.tmp, "agent.stats")
        for path in (self.mgr_stats, self.stats_file):
            if os.path.exists(path):
                os.unlink(path)
        for path in glob.glob(f"/dev/shm/loom.{self.mgr_instance}.*"):
            os.unlink(path)
        backends = "\n".join(f"      - {{ address: {b} }}" for b in BACKENDS)
        mconf = os.path.join(self.tmp, "svc-mgr.yaml")
        with open(mconf, "w") as f:
            f.write(f"""instance: {self.mgr_instance}
listen: [ "{endpoint}" ]
stats-file: {self.mgr_stats}
services:
  - name: web
    type: lb
    protocol: tcp
    address: {VIP}
    port: {PORT}
    algorithm: rr
    clients: [ 10.1.0.0/24 ]
    health: {{ type: none }}
    backends:
{backends}
""")
        conf = os.path.join(self.tmp, "agent.yaml")
        with open(conf, "w") as f:
            # fixed-affinities: closed flows keep theirs for the manager's
            # sticky time (4 s), two per connection
            f.write(f"""instance: {self.instance}
backend: afpacket
workers: {self.workers}
busy-poll-us: {self.busy_poll_us}
fixed-affinities: 262144
stats-file: {self.stats_file}
interfaces:
  - name: a0
  - name: a1
managers:
  - endpoint: "{endpoint}"
    punt-rate: {self.punt_rate}
    punt-burst: {self.punt_burst}
""")
        self.mgr = self.spawn(self.rtr, self.tools["mgr"], "-c", mconf, "-l", "notice",
                              name="svc-mgr")
        self.agent = self.spawn(self.rtr, self.tools["agent"], "-c", conf, "-l", "notice",
                                name="agent")
        # the wildcards are in place when a first connection goes through
        end = time.monotonic() + 15
        while self.ns(self.cli, "/usr/bin/python3", "-c", PROBE, VIP, check=False).returncode:
            if time.monotonic() > end or self.agent.poll() is not None or \
                    self.mgr.poll() is not None:
                raise Failed("no connection through agent and manager:\nagent: " +
                             self.log_of(self.agent)[-1500:] + "\nmanager: " +
                             self.log_of(self.mgr)[-1500:])
            time.sleep(0.1)

    def loom_down(self):
        # the manager first: stopped after the agent, it would count its
        # withdrawals to the gone agent as transmit failures
        self.stop(self.mgr)
        self.stop(self.agent)
        # the agent leaves its ingress filter behind (a restarted agent takes
        # it over); nft mode needs the transit packets back
        self.ns(self.rtr, "nft", "delete", "table", "netdev", f"loom_{self.instance}",
                check=False)
        agent = {}
        if os.path.exists(self.stats_file):
            with open(self.stats_file) as f:
                for line in f:
                    if "#" in line:
                        fields = line.split("#", 1)[0].split()
                        if len(fields) >= 2 and fields[1].isdigit():
                            name = line.split("#", 1)[1].strip()
                            agent[name] = agent.get(name, 0) + int(fields[1])
        mgr = {}
        if os.path.exists(self.mgr_stats):
            with open(self.mgr_stats) as f:
                for line in f:
                    fields = line.split()
                    if len(fields) == 2 and fields[1].isdigit():
                        mgr[fields[0]] = int(fields[1])
                    elif fields[:1] == ["backend"] and "decided" in fields:
                        mgr["backend " + fields[2]] = int(fields[fields.index("decided") + 1])
        return agent, mgr

    # ---- workload ---------------------------------------------------------------

    def cps(self, conns):
        src = [SRC_FIRST, str(self.sources)] if self.sources > 1 else []
        r = self.ns(self.cli, self.tools["httpc"], VIP, str(PORT), str(self.secs), str(conns),
                    *src, check=False, timeout=self.secs + 30)
        m = re.search(r"requests (\d+) in ([\d.]+) s \((\d+) failures: (.*)\)", r.stdout)
        if not m:
            raise Failed(f"httpc: exit {r.returncode}: {r.stdout} {r.stderr}")
        lat = re.search(r"latency us: (.*)", r.stdout)
        done, secs, failed = int(m.group(1)), float(m.group(2)), int(m.group(3))
        return done / secs, done, failed, m.group(4), lat.group(1) if lat else ""

    @staticmethod
    def report_loom(conns, agent, mgr):
        """Proof that the connections went through the manager, and the
        counters that tell where they could have been lost."""
        split = ", ".join(str(mgr.get("backend " + b, "?")) for b in BACKENDS)
        dec = mgr.get("decided", 0)
        print(f"        manager: decided {dec} of {conns} connections "
              f"({100 * dec / max(conns, 1):.0f} %; backends {split}), "
              f"punts {mgr.get('punts', '?')}, answered {mgr.get('answered', '?')}, "
              f"interest {mgr.get('interest', '?')}, closed {mgr.get('closed', '?')}, "
              f"not-syn {mgr.get('not-syn', '?')}, tx-fail {mgr.get('tx-fail', '?')}")
        names = (("sent to the manager", "interest matches sent"),
                 ("over the rate limit", "interest matches over the rate limit"),
                 ("queue full", "dropped: queue to the control thread full"),
                 ("fixed hits", "fixed affinity hits"),
                 ("returned", "packets returned by the manager"),
                 ("no neighbour", "dropped: next hop unresolved (resolution asked)"),
                 ("tx failures", "dropped: transmit failed"))
        print("        agent: " + ", ".join(f"{short} {agent.get(long, '?')}"
                                            for short, long in names))
        if dec < 0.9 * conns:
            print("        (fewer decisions than connections: a client port reused while "
                  "its previous flow still had its fixed affinities (the manager's sticky "
                  "time) went through without asking)")
        sys.stdout.flush()

    def run(self, workloads, modes):
        results = {}
        for w in workloads:
            for mode in modes:
                self.mode_up(mode)
                try:
                    rate, done, failed, kinds, lat = self.cps(WORKLOADS[w])
                finally:
                    agent, mgr = self.mode_down(mode)
                results[(w, mode)] = (rate, failed)
                print(f"  {w:5} {mode:4} {rate:10.0f} req/s  {done} requests, "
                      f"{failed} failures ({kinds}); latency {lat}", flush=True)
                if failed:
                    print(f"  !!! {w} {mode}: {failed} REQUESTS FAILED ({kinds})", flush=True)
                if mode == "loom":
                    self.report_loom(done + failed, agent, mgr)
        return results


def table(results, workloads, modes):
    print()
    print(f"| {'workload':36} | {'loom':>9} | {'nft DNAT':>9} | {'loom/nft':>8} "
          f"| {'failures loom':>13} | {'failures nft':>12} |")
    print(f"| {'-' * 36} | {'-' * 8}: | {'-' * 8}: | {'-' * 7}: | {'-' * 12}: | {'-' * 11}: |")
    loud = []
    for w in workloads:
        lo, nf = results.get((w, "loom")), results.get((w, "nft"))
        fmt = lambda v: f"{v[0]:9.0f}" if v else f"{'-':>9}"
        fails = lambda v: str(v[1]) if v else "-"
        rat = f"{lo[0] / nf[0]:.2f}" if lo and nf and nf[0] else "-"
        print(f"| {TITLES[w]:36} | {fmt(lo)} | {fmt(nf)} | {rat:>8} | {fails(lo):>13} "
              f"| {fails(nf):>12} |")
        loud += [f"{w} {m}" for m in modes if results.get((w, m), (0, 0))[1]]
    if loud:
        print(f"\n!!! FAILURES in: {', '.join(loud)}: those figures count only the "
              f"requests that completed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("-t", "--seconds", type=int, default=5, help="per measurement (default 5)")
    ap.add_argument("-w", "--workloads", default=",".join(WORKLOADS))
    ap.add_argument("-m", "--modes", default=",".join(MODES))
    ap.add_argument("--workers", type=int, default=2, help="the agent's workers (default 2)")
    ap.add_argument("--sources", type=int, default=SvcLab.sources,
                    help=f"client source addresses used in turn (default {SvcLab.sources}; "
                         "1: the client's own only, ports get reused within the sticky time)")
    ap.add_argument("--busy-poll-us", type=int, default=0,
                    help="the agent's workers poll this long before sleeping (default 0)")
    ap.add_argument("--punt-rate", type=int, default=SvcLab.punt_rate,
                    help=f"the agent's punt-rate for the manager (default {SvcLab.punt_rate}; "
                         "each connection makes about four punts)")
    ap.add_argument("--punt-burst", type=int, default=SvcLab.punt_burst,
                    help=f"the agent's punt-burst (default {SvcLab.punt_burst})")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_svc_lab: needs root (network namespaces); skipped")
        return 77
    b = args.build
    tools = {"agent": os.environ.get("LOOM_AGENT") or f"{b}/fwd-agent/loom-fwd-agent",
             "mgr": os.environ.get("LOOM_SVC_MGR") or f"{b}/svc-mgr/loom-svc-mgr",
             "httpc": os.environ.get("LOOM_HTTPC") or f"{b}/tests/bench/lab/httpc"}
    for name, path in tools.items():
        if not os.access(path, os.X_OK):
            print(f"bench_svc_lab: {name} not found at {path} (--build?)")
            return 1
    if not sh("sh", "-c", "command -v nginx", check=False).stdout.strip():
        print("bench_svc_lab: nginx not installed; skipped")
        return 77
    if not 1 <= args.seconds <= 120 or not 1 <= args.workers <= 64 or \
            not 1 <= args.sources <= 100:
        print("bench_svc_lab: --seconds 1..120, --workers 1..64, --sources 1..100")
        return 2
    workloads = [w for w in args.workloads.split(",") if w]
    modes = [m for m in args.modes.split(",") if m]
    if set(workloads) - set(WORKLOADS) or set(modes) - set(MODES):
        print(f"bench_svc_lab: workloads {tuple(WORKLOADS)}, modes {MODES}")
        return 2
    SvcLab.workers, SvcLab.punt_rate, SvcLab.punt_burst = \
        args.workers, args.punt_rate, args.punt_burst
    SvcLab.busy_poll_us, SvcLab.sources = args.busy_poll_us, args.sources

    # SIGTERM (meson's timeout) unwinds like Ctrl-C: the lab is removed
    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    lab = SvcLab(tools, args.seconds)
    print(f"service lab {lab.tag}: cli {CLI} -- router -- nginx on {', '.join(BACKENDS)}, "
          f"VIP {VIP}:{PORT}, {args.sources} client addresses, {args.seconds} s per "
          f"measurement, {os.cpu_count()} CPUs; agent: {args.workers} workers, busy-poll-us "
          f"{args.busy_poll_us}, punt-rate {args.punt_rate}, punt-burst {args.punt_burst}",
          flush=True)
    try:
        lab.up()
        results = lab.run(workloads, modes)
        table(results, workloads, modes)
    except (Failed, subprocess.TimeoutExpired) as e:
        print(f"bench_svc_lab: FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        print("bench_svc_lab: interrupted")
        return 130
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
