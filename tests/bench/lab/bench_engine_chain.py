# SPDX-License-Identifier: LGPL-2.1-or-later
"""A service chain wired by hand against the same chain steered by
loom-pkt-engine (issue 6, done means 5), in one run on the same namespaces:

  hand     the seeds' "hard-wired" network: the firewall is simply the
           client's and the server's router (static routes through it, on
           direct links cli -- fw -- srv);
  steered  the client's router is the engine (AF_PACKET); it steers the
           service's packets to the firewall's outside arm, takes them back
           from its inside arm, hands them to the server (loopback mode: the
           service address on its lo), and the replies the same way back.

      +------------------------ h0 [fw] h1 ----------------------+
      |                     (Linux router, nftables counters)     |
     c1                                                           t1
    [cli] c0 -- e0 [eng] e1 -- f0 [fw] f1 -- e2 [eng] e3 -- s0 [srv]

The firewall does the same work in both (kernel forwarding and a filter
chain counting the service's ports); only the routes to the service address
W on cli and fw change between the modes. Workloads, each bounded in time:
one iperf3 TCP stream and 64-byte UDP over 8 flows (udpgen), both to W.
Prints each figure, then a table with the ratio steered/hand. Never asserts
a figure. Everything it creates has a name unique to the process and is
removed at the end, also on failure or Ctrl-C.

Run as root with /usr/bin/python3:
  sudo /usr/bin/python3 tests/bench/lab/bench_engine_chain.py --build build [-t 5]
or `meson test -C build --benchmark engine-chain`.
"""
import argparse
import os
import signal
import subprocess
import sys

import bench_lab
from bench_lab import PORTS, Failed, sh

W = "10.9.0.1"
MODES = ("steered", "hand")
WORKLOADS = ("tcp", "udp")
MAC = {"c0": "02:00:00:61:00:02", "e0": "02:00:00:61:00:01", "e1": "02:00:00:63:00:01",
       "f0": "02:00:00:63:00:02", "f1": "02:00:00:64:00:02", "e2": "02:00:00:64:00:01",
       "e3": "02:00:00:65:00:01", "s0": "02:00:00:65:00:02"}
# the hand-wired links: cli 10.6.0.2 -- 10.6.0.1 fw 10.7.0.1 -- 10.7.0.2 srv
HAND_FW, HAND_SRV = "10.6.0.1", "10.7.0.2"
FW_RULES = f"""table inet chainfw {{
  chain chk {{
    type filter hook forward priority 0; policy accept;
    tcp dport {PORTS['tcp']} counter
    tcp sport {PORTS['tcp']} counter
    udp dport {PORTS['udp']} counter
  }}
}}
"""


class ChainLab(bench_lab.Lab):
    """bench_lab's plumbing and workloads (tcp, udp, run) on four namespaces."""

    def __init__(self, tools, secs, workers):
        super().__init__(tools, secs, None)
        self.cli, self.eng = f"eng3c{self.tag}", f"eng3e{self.tag}"
        self.fw, self.srv = f"eng3f{self.tag}", f"eng3s{self.tag}"
        self.instance = f"eng3b{self.tag}"
        self.workers = workers
        self.engine = None

    def veth(self, a_ns, a, b_ns, b):
        sh("ip", "link", "add", a, "netns", a_ns, "address", MAC.get(a, "02:00:00:66:00:01"),
           "type", "veth", "peer", "name", b, "netns", b_ns,
           "address", MAC.get(b, "02:00:00:66:00:02"))
        for ns, dev in ((a_ns, a), (b_ns, b)):
            self.ns(ns, "ip", "link", "set", dev, "up")

    def addr(self, ns, dev, a):
        self.ns(ns, "ip", "addr", "add", a, "dev", dev)

    def up(self):
        for ns in (self.cli, self.eng, self.fw, self.srv):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            self.ns(ns, "ip", "link", "set", "lo", "up")
        self.veth(self.cli, "c0", self.eng, "e0")
        self.veth(self.eng, "e1", self.fw, "f0")
        self.veth(self.fw, "f1", self.eng, "e2")
        self.veth(self.eng, "e3", self.srv, "s0")
        self.veth(self.cli, "c1", self.fw, "h0")
        self.veth(self.fw, "h1", self.srv, "t1")
        for ns, dev, a in ((self.cli, "c0", "10.1.0.2/24"), (self.eng, "e0", "10.1.0.1/24"),
                           (self.eng, "e1", "10.3.0.1/24"), (self.fw, "f0", "10.3.0.2/24"),
                           (self.fw, "f1", "10.4.0.2/24"), (self.eng, "e2", "10.4.0.1/24"),
                           (self.eng, "e3", "10.5.0.1/24"), (self.srv, "s0", "10.5.0.2/24"),
                           (self.cli, "c1", "10.6.0.2/24"), (self.fw, "h0", "10.6.0.1/24"),
                           (self.fw, "h1", "10.7.0.1/24"), (self.srv, "t1", "10.7.0.2/24")):
            self.addr(ns, dev, a)
        # the engine's kernel answers ARP for its addresses and forwards nothing
        self.ns(self.eng, "sysctl", "-qw", "net.ipv4.ip_forward=0")
        # the firewall: a router with a filter chain, in both modes
        self.ns(self.fw, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.ns(self.fw, "ip", "route", "add", "10.1.0.0/24", "via", "10.3.0.1")
        rules = os.path.join(self.tmp, "fw.nft")
        with open(rules, "w") as f:
            f.write(FW_RULES)
        self.ns(self.fw, "nft", "-f", rules)
        # the server: W on lo, not answering ARP for it; replies of the
        # steered chain go to the engine, of the hand-wired one to fw
        self.addr(self.srv, "lo", W + "/32")
        for k in ("net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"):
            self.ns(self.srv, "sysctl", "-qw", k)
        self.ns(self.srv, "ip", "route", "add", "default", "via", "10.5.0.1")
        self.ns(self.srv, "ip", "route", "add", "10.6.0.0/24", "via", "10.7.0.1")
        self.start_engine()

    def start_engine(self):
        cfg = os.path.join(self.tmp, "engine.yaml")
        ports = {w: PORTS[w] for w in WORKLOADS}
        with open(cfg, "w") as f:
            f.write(f"""instance: {self.instance}
backend: afpacket
workers: {self.workers}
probe-interval: 0ms
interfaces:
  - {{name: e0, role: client, gateway-mac: "{MAC['c0']}"}}
  - {{name: e1, role: device}}
  - {{name: e2, role: device}}
  - {{name: e3, role: device}}
devices:
  - {{name: fw, function: firewall, mac: "{MAC['f0']}", interface: e1, out-interface: e2, out-mac: "{MAC['f1']}"}}
  - {{name: srv, function: server, mac: "{MAC['s0']}", interface: e3, mode: loopback}}
services:
  - {{name: bench-tcp, address: {W}, interface: e0, ports: [{{port: {ports['tcp']}}}], chain: [fw, srv]}}
  - {{name: bench-udp, address: {W}, protocol: udp, interface: e0, ports: [{{port: {ports['udp']}}}], chain: [fw, srv]}}
""")
        self.engine = self.spawn(self.eng, self.tools["engine"], "-c", cfg, name="engine")
        self.wait_log(self.engine, "running")

    def fw_counters(self):
        out = self.ns(self.fw, "nft", "list", "chain", "inet", "chainfw", "chk").stdout
        return [int(x.split()[0]) for x in out.split("packets ")[1:]]

    # ---- the chain, two ways ---------------------------------------------------

    def mode_up(self, mode):
        """Route W through the engine (steered) or through fw directly (hand)."""
        steered = mode == "steered"
        self.ns(self.cli, "ip", "route", "replace", W + "/32", "via",
                "10.1.0.1" if steered else HAND_FW)
        self.ns(self.fw, "ip", "route", "replace", W + "/32", "via",
                "10.4.0.1" if steered else HAND_SRV)
        self.before = self.fw_counters()
        return W

    def mode_down(self, mode):
        after = self.fw_counters()
        if after[0] == self.before[0] and after[2] == self.before[2]:
            raise Failed(f"{self.current}: the firewall saw none of it: {self.before} {after}")
        return {}


def table(results):
    print()
    print(f"| {'workload':34} | {'hand-wired':>10} | {'engine':>10} | {'engine/hand':>11} |")
    print(f"| {'-' * 34} | {'-' * 9}: | {'-' * 9}: | {'-' * 10}: |")
    for w in WORKLOADS:
        h, s = results.get((w, "hand")), results.get((w, "steered"))
        fmt = lambda v: f"{v:10.2f}" if v is not None else f"{'-':>10}"
        ratio = f"{s / h:.2f}" if s is not None and h else "-"
        print(f"| {bench_lab.TITLES[w]:34} | {fmt(h)} | {fmt(s)} | {ratio:>11} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("-t", "--seconds", type=int, default=5, help="per measurement (default 5)")
    ap.add_argument("--workers", type=int, default=1, help="the engine's workers (default 1)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_engine_chain: needs root (network namespaces); skipped")
        return 77
    tools = {"engine": os.environ.get("LOOM_ENGINE") or
             f"{args.build}/pkt-engine/loom-pkt-engine",
             "udpgen": os.environ.get("LOOM_UDPGEN") or f"{args.build}/tests/bench/lab/udpgen"}
    for name, path in tools.items():
        if not os.access(path, os.X_OK):
            print(f"bench_engine_chain: {name} not found at {path} (--build?)")
            return 1
    if not 1 <= args.seconds <= 120 or not 1 <= args.workers <= 8:
        print("bench_engine_chain: --seconds 1..120, --workers 1..8")
        return 2

    # SIGTERM (meson's timeout) unwinds like Ctrl-C: the lab is removed
    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    lab = ChainLab(tools, args.seconds, args.workers)
    print(f"chain lab {lab.tag}: cli -- fw -- srv, hand-wired and through loom-pkt-engine "
          f"({args.workers} worker{'s' if args.workers > 1 else ''}), W {W}, "
          f"{args.seconds} s per measurement, {os.cpu_count()} CPUs", flush=True)
    try:
        lab.up()
        results = lab.run(WORKLOADS, MODES)
        table(results)
    except (Failed, subprocess.TimeoutExpired) as e:
        print(f"bench_engine_chain: FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        print("bench_engine_chain: interrupted")
        return 130
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
