# SPDX-License-Identifier: LGPL-2.1-or-later
"""The namespace lab benchmark (issue 3, part b): traffic from a client to a
server through a router, the router done three ways in one run:

  kernel  the router's kernel forwards (ip_forward=1), plain routing to the
          server's address;
  nft     the router's kernel forwards and nftables DNATs VIP:port to the
          server (prerouting dnat; conntrack un-NATs the replies);
  agent   the kernel's forwarding is off; loom-fwd-agent (AF_PACKET, two
          workers) does the same translation statelessly, from wildcards a
          scripted manager installs: VIP:port -> server (nat.dst) and
          server:port -> any (nat.src=VIP), each with an interest action
          whose mask is empty, so no packet is punted.

cli 10.1.0.2 -- c0|a0 router a1|s0 -- srv 10.2.0.2, veth, offloads at their
defaults. Workloads, each bounded in time: one iperf3 TCP stream, 64-byte UDP
over 8 flows (udpgen), TCP request/response and connect/request/close
(tcprr). Prints a table: ours, kernel, nftables and the ratios. Never
asserts a figure. Everything it creates has a name unique to the process
and is removed at the end, also on failure or Ctrl-C.

Run as root with /usr/bin/python3:
  sudo /usr/bin/python3 tests/bench/lab/bench_lab.py --build build [-t 5]
or `meson test -C build --benchmark lab`.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CLI, RTR_C, RTR_S, SRV = "10.1.0.2", "10.1.0.1", "10.2.0.1", "10.2.0.2"
VIP = "10.9.0.80"
PORTS = {"tcp": 5201, "rr": 5301, "crr": 5302, "udp": 5401}
MODES = ("agent", "kernel", "nft")
WORKLOADS = ("tcp", "udp", "rr", "crr")
TITLES = {"tcp": "TCP, one iperf3 stream (Gbit/s)",
          "udp": "UDP 64 B, 8 flows (Kpps received)",
          "rr": "TCP request/response (K/s)",
          "crr": "TCP connect/request/close (K/s)"}


class Failed(Exception):
    pass


# ethtool -K DEV tx off without an ethtool binary (ETHTOOL_STXCSUM, SIOCETHTOOL)
TX_CSUM_OFF = """
import ctypes, fcntl, socket, struct, sys
buf = (ctypes.c_char * 8).from_buffer(bytearray(struct.pack("II", 0x17, 0)))
ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(buf))
fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), 0x8946, ifr)
"""


def sh(*args, check=True, timeout=60):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Failed(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


class Lab:
    backend = "afpacket"
    busy_poll_us = 0
    workers = 2

    def __init__(self, tools, secs, perf_dir):
        self.tools = tools
        self.secs = secs
        self.perf_dir = perf_dir
        self.tag = f"{os.getpid() % 100000}"
        self.cli, self.rtr, self.srv = f"lbc{self.tag}", f"lbr{self.tag}", f"lbs{self.tag}"
        self.instance = f"lb{self.tag}"
        self.nft_table = f"lb_dnat_{self.tag}"
        self.tmp = tempfile.mkdtemp(prefix="loom-lab-")
        self.procs = []
        self.made = []
        self.notes = []

    # ---- plumbing -----------------------------------------------------------

    def ns(self, ns, *args, check=True, timeout=60):
        return sh("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)

    def spawn(self, ns, *args, name):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=log,
                             stderr=subprocess.STDOUT, text=True)
        p.logname = log.name
        self.procs.append(p)
        return p

    def log_of(self, p):
        with open(p.logname) as f:
            return f.read()

    def wait_log(self, p, text, timeout=5):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.log_of(p):
                return
            if p.poll() is not None:
                break
            time.sleep(0.02)
        raise Failed(f"{p.args[3:]} did not print {text!r}: {self.log_of(p)[-2000:]}")

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def up(self):
        for ns in (self.cli, self.rtr, self.srv):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            self.ns(ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "c0", "netns", self.cli, "type", "veth", "peer", "name", "a0",
           "netns", self.rtr)
        sh("ip", "link", "add", "s0", "netns", self.srv, "type", "veth", "peer", "name", "a1",
           "netns", self.rtr)
        for ns, dev, addr in ((self.cli, "c0", CLI + "/24"), (self.rtr, "a0", RTR_C + "/24"),
                              (self.rtr, "a1", RTR_S + "/24"), (self.srv, "s0", SRV + "/24")):
            self.ns(ns, "ip", "addr", "add", addr, "dev", dev)
            self.ns(ns, "ip", "link", "set", dev, "up")
        self.ns(self.cli, "ip", "route", "add", "default", "via", RTR_C)
        self.ns(self.srv, "ip", "route", "add", "default", "via", RTR_S)
        # The VIP is routed towards the backends, as a deployment would; it
        # also lets the agent's ingress filter recognise its packets as
        # transit (fib daddr type unicast) instead of leaving them to the
        # kernel, which would answer "host unreachable".
        self.ns(self.rtr, "ip", "route", "add", VIP + "/32", "via", SRV)
        if self.backend == "afxdp":
            # AF_XDP frames carry no checksum metadata: the endpoints must
            # not leave checksums to the forwarder (every mode, same topology)
            for ns, dev in ((self.cli, "c0"), (self.srv, "s0")):
                self.ns(ns, "/usr/bin/python3", "-c", TX_CSUM_OFF, dev)
        # connect/request/close opens ~10^5 connections in a few seconds
        self.ns(self.cli, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535")
        self.ns(self.cli, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")

    def down(self):
        for p in self.procs:
            self.stop(p, timeout=5)
        for ns in self.made:
            sh("ip", "netns", "del", ns, check=False)
        # the agent's shared segments (tables, counters) outlive it by design
        for path in glob.glob(f"/dev/shm/loom.{self.instance}.*"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the router, three ways ---------------------------------------------

    def forwarding(self, on):
        self.ns(self.rtr, "sysctl", "-qw", f"net.ipv4.ip_forward={1 if on else 0}")

    def mode_up(self, mode):
        if mode == "kernel":
            self.forwarding(True)
            return SRV
        if mode == "nft":
            self.forwarding(True)
            tcp = ", ".join(str(PORTS[w]) for w in ("tcp", "rr", "crr"))
            rules = f"""table ip {self.nft_table} {{
  chain pre {{
    type nat hook prerouting priority dstnat;
    ip daddr {VIP} tcp dport {{ {tcp} }} dnat to {SRV}
    ip daddr {VIP} udp dport {PORTS['udp']} dnat to {SRV}
  }}
}}
"""
            path = os.path.join(self.tmp, "dnat.nft")
            with open(path, "w") as f:
                f.write(rules)
            self.ns(self.rtr, "nft", "-f", path)
            return VIP
        self.forwarding(False)
        self.agent_up()
        return VIP

    def mode_down(self, mode):
        if mode == "nft":
            self.ns(self.rtr, "nft", "delete", "table", "ip", self.nft_table, check=False)
        if mode == "agent":
            return self.agent_down()
        self.forwarding(False)
        return {}

    def agent_up(self):
        lines = ["hello"]
        for w, proto in (("tcp", "tcp"), ("rr", "tcp"), ("crr", "tcp"), ("udp", "udp")):
            port = PORTS[w]
            # an interest action with an empty mask: the actions apply to
            # every packet, none goes to the manager
            lines += [f"wildcard proto={proto} dst={VIP}/32 dport={port} nat.dst={SRV} "
                      f"interest=-:-:-:- ttl=3600",
                      f"wildcard proto={proto} src={SRV}/32 sport={port} nat.src={VIP} "
                      f"interest=-:-:-:- ttl=3600"]
        lines += ["heartbeat", "quiet 300"]
        script = os.path.join(self.tmp, "mgr.script")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        endpoint = f"ipc://{self.tmp}/mgr.sock"
        self.stats_file = os.path.join(self.tmp, "agent.stats")
        conf = os.path.join(self.tmp, "agent.yaml")
        with open(conf, "w") as f:
            # AF_XDP: one socket per device queue, and the lab's veths have one
            f.write(f"""instance: {self.instance}
backend: {self.backend}
workers: {self.workers}
busy-poll-us: {self.busy_poll_us}
stats-file: {self.stats_file}
interfaces:
  - name: a0
  - name: a1
managers:
  - endpoint: "{endpoint}"
""")
        if os.path.exists(self.stats_file):
            os.unlink(self.stats_file)
        # the manager runs in the root namespace: ipc:// needs only the path
        self.mgr = subprocess.Popen([self.tools["mgr"], endpoint, script],
                                    stdout=open(os.path.join(self.tmp, "mgr.log"), "w"),
                                    stderr=subprocess.STDOUT, text=True)
        self.mgr.logname = os.path.join(self.tmp, "mgr.log")
        self.procs.append(self.mgr)
        self.agent = self.spawn(self.rtr, self.tools["agent"], "-c", conf, "-l", "notice",
                                name="agent")
        self.wait_log(self.mgr, "script done", timeout=10)
        # neighbours resolved both ways, the workers forwarding
        end = time.monotonic() + 10
        while self.ns(self.cli, "ping", "-c1", "-W1", SRV, check=False).returncode:
            if time.monotonic() > end or self.agent.poll() is not None:
                raise Failed("the agent does not forward: " + self.log_of(self.agent)[-2000:])
        self.perf = None
        if self.perf_dir:
            out = os.path.join(self.perf_dir, f"perf-{self.current}.data")
            self.perf = subprocess.Popen(["perf", "record", "-g", "-o", out, "-p",
                                          str(self.agent_pid())],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(self.perf)

    def agent_pid(self):
        # `ip netns exec` execs the agent: same pid
        return self.agent.pid

    def agent_down(self):
        if self.perf:
            self.stop(self.perf, sig=signal.SIGINT, timeout=30)
        self.stop(self.agent)
        self.stop(self.mgr, timeout=5)
        # the agent leaves its ingress filter behind (a restarted agent
        # takes it over); the kernel modes need the transit packets back
        self.ns(self.rtr, "nft", "delete", "table", "netdev", f"loom_{self.instance}",
                check=False)
        stats = {}
        if os.path.exists(self.stats_file):
            with open(self.stats_file) as f:
                for line in f:
                    if "#" in line:
                        fields = line.split("#", 1)[0].split()
                        if len(fields) >= 2 and fields[1].isdigit():
                            stats[line.split("#", 1)[1].strip()] = int(fields[1])
        return stats

    # ---- workloads ------------------------------------------------------------

    def tcp(self, target):
        srv = self.spawn(self.srv, "iperf3", "-s", "-1", "--forceflush", "-p", str(PORTS["tcp"]), name="iperf3-s")
        self.wait_log(srv, "Server listening")
        r = self.ns(self.cli, "iperf3", "-c", target, "-p", str(PORTS["tcp"]), "-t",
                    str(self.secs), "-J", timeout=self.secs + 30)
        self.stop(srv)
        res = json.loads(r.stdout)
        return res["end"]["sum_received"]["bits_per_second"] / 1e9, ""

    def snmp_udp(self):
        out = self.ns(self.srv, "cat", "/proc/net/snmp").stdout
        rows = [ln.split()[1:] for ln in out.splitlines() if ln.startswith("Udp:")]
        return dict(zip(rows[0], map(int, rows[1])))

    def udp(self, target):
        before = self.snmp_udp()
        sink = self.spawn(self.srv, self.tools["udpgen"], "sink", str(PORTS["udp"]),
                          str(self.secs + 2), name="udp-sink")
        self.wait_log(sink, "listening")
        r = self.ns(self.cli, self.tools["udpgen"], "send", target, str(PORTS["udp"]),
                    str(self.secs), "8", "64", timeout=self.secs + 30)
        m = re.search(r"sent (\d+) packets in ([\d.]+) s", r.stdout)
        sent, secs = int(m.group(1)), float(m.group(2))
        sink.wait(self.secs + 10)
        m = re.search(r"received (\d+) packets", self.log_of(sink))
        got = int(m.group(1))
        after = self.snmp_udp()
        bad = after["InCsumErrors"] - before["InCsumErrors"]
        full = after["RcvbufErrors"] - before["RcvbufErrors"]
        note = (f"sent {sent / secs / 1e3:.0f} Kpps, received {got}, "
                f"rcvbuf drops {full}, checksum errors {bad}")
        return got / secs / 1e3, note

    def rr(self, target, kind="rr"):
        srv = self.spawn(self.srv, self.tools["tcprr"], "server", str(PORTS[kind]),
                         str(self.secs + 5), name=f"{kind}-s")
        self.wait_log(srv, "listening")
        r = self.ns(self.cli, self.tools["tcprr"], kind, target, str(PORTS[kind]),
                    str(self.secs), timeout=self.secs + 30)
        self.stop(srv)
        m = re.search(r"transactions (\d+) in ([\d.]+) s \((\d+) errors\)", r.stdout)
        return int(m.group(1)) / float(m.group(2)) / 1e3, f"{m.group(3)} errors"

    def crr(self, target):
        return self.rr(target, "crr")

    def run(self, workloads, modes):
        results = {}
        for w in workloads:
            for mode in modes:
                self.current = f"{w}-{mode}"
                target = self.mode_up(mode)
                try:
                    value, note = getattr(self, w)(target)
                finally:
                    stats = self.mode_down(mode)
                if mode == "agent":
                    note += (f"; agent: translated {stats.get('packets translated', '?')}, "
                             f"punted {stats.get('packets or notifications queued for a manager', '?')}, "
                             f"tx failures {stats.get('dropped: transmit failed', '?')}")
                results[(w, mode)] = value
                print(f"  {w:4} {mode:6} {value:10.2f}  {note}", flush=True)
        return results


def table(results, workloads):
    print()
    print(f"| {'workload':36} | {'loom agent':>10} | {'kernel fwd':>10} | {'nft DNAT':>10} "
          f"| {'ours/nft':>8} | {'ours/kernel':>11} |")
    print(f"| {'-' * 36} | {'-' * 9}: | {'-' * 9}: | {'-' * 9}: | {'-' * 7}: | {'-' * 10}: |")
    for w in workloads:
        a, k, n = (results.get((w, m)) for m in ("agent", "kernel", "nft"))
        fmt = lambda v: f"{v:10.2f}" if v is not None else f"{'-':>10}"
        rat = lambda x, y: f"{x / y:.2f}" if x is not None and y else "-"
        print(f"| {TITLES[w]:36} | {fmt(a)} | {fmt(k)} | {fmt(n)} | {rat(a, n):>8} "
              f"| {rat(a, k):>11} |")


def tools_from(args):
    b = args.build
    return {"agent": os.environ.get("LOOM_AGENT") or f"{b}/fwd-agent/loom-fwd-agent",
            "mgr": os.environ.get("LOOM_MGR_SCRIPT") or f"{b}/tests/tools/loom-mgr-script",
            "udpgen": os.environ.get("LOOM_UDPGEN") or f"{b}/tests/bench/lab/udpgen",
            "tcprr": os.environ.get("LOOM_TCPRR") or f"{b}/tests/bench/lab/tcprr"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("-t", "--seconds", type=int, default=5, help="per measurement (default 5)")
    ap.add_argument("-w", "--workloads", default=",".join(WORKLOADS))
    ap.add_argument("-m", "--modes", default=",".join(MODES))
    ap.add_argument("--perf", metavar="DIR", help="perf record the agent into DIR")
    ap.add_argument("--busy-poll-us", type=int, default=0,
                    help="the agent's workers poll this long before sleeping (default 0)")
    ap.add_argument("--workers", type=int, default=0,
                    help="the agent's workers (default: 2, AF_XDP 1: the lab's veths "
                         "have one queue)")
    ap.add_argument("--backend", default="afpacket", choices=("afpacket", "afxdp"),
                    help="the agent's packet back end (afxdp: checksum offload off at the "
                         "endpoints for every mode)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_lab: needs root (network namespaces); skipped")
        return 77
    Lab.backend = args.backend
    Lab.busy_poll_us = args.busy_poll_us
    Lab.workers = args.workers or (1 if args.backend == "afxdp" else 2)
    if not 1 <= Lab.workers <= 64 or (args.backend == "afxdp" and Lab.workers != 1):
        print("bench_lab: --workers 1..64 (AF_XDP: 1, one per device queue)")
        return 2
    tools = tools_from(args)
    for name, path in tools.items():
        if not os.access(path, os.X_OK):
            print(f"bench_lab: {name} not found at {path} (--build?)")
            return 1
    if not 1 <= args.seconds <= 120:
        print("bench_lab: --seconds 1..120")
        return 2
    workloads = [w for w in args.workloads.split(",") if w]
    modes = [m for m in args.modes.split(",") if m]
    if set(workloads) - set(WORKLOADS) or set(modes) - set(MODES):
        print(f"bench_lab: workloads {WORKLOADS}, modes {MODES}")
        return 2

    # SIGTERM (meson's timeout) unwinds like Ctrl-C: the lab is removed
    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    lab = Lab(tools, args.seconds, args.perf)
    print(f"namespace lab {lab.tag}: cli {CLI} -- router -- srv {SRV}, VIP {VIP}, "
          f"{args.seconds} s per measurement, {os.cpu_count()} CPUs; agent: {args.backend}, "
          f"{Lab.workers} workers, busy-poll-us {args.busy_poll_us}", flush=True)
    try:
        lab.up()
        results = lab.run(workloads, modes)
        table(results, workloads)
    except (Failed, subprocess.TimeoutExpired) as e:
        print(f"bench_lab: FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        print("bench_lab: interrupted")
        return 130
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
