# SPDX-License-Identifier: LGPL-2.1-or-later
"""Replication against conntrackd (issue 5, done-means 6): the two figures
of the replication library, ours and conntrackd's FTFW sync, in one run:

  live  entries per second from the active to the standby while they are
        being created: ours, bench_repl's stream (M updates of existing
        entries submitted as fast as the active can, until the standby
        applied the last); theirs, M new UDP flows created as fast as a
        sender makes them in namespace A, until conntrackd in namespace B
        holds all of them in its external cache;
  dump  a full resynchronization of N entries: ours, bench_repl's dump (the
        standby starts and joins, until ready); theirs, conntrackd in B
        flushes its external cache and asks for a resync (`conntrackd -n`),
        until its external cache holds N entries again.

Then, as an extra with no counterpart in bench_repl: the time `conntrackd
-c` takes to commit B's external cache (N entries) to B's kernel table.

Namespaces A and B are joined by a veth (10.77.0.1 -- 10.77.0.2) that
carries conntrackd's FTFW messages over UDP unicast. A's output path is
tracked (an nftables rule on ct state); ctfill (next to this script) sends
one datagram per flow towards 10.128.0.0/16, routed to a second veth whose
peer is down, so every flow is an unreplied UDP entry in A's table and the
datagram is dropped right after conntrack confirmed it. conntrackd accepts
UDP only and ignores the sync link's own flow. If the kernel's
nf_conntrack_max is too low for N it is raised for the run and restored
after it; the UDP timeout in A is raised so that no entry expires during
the run. Never asserts a figure; both namespaces, the daemons and the
temporary directory are removed at the end, also on failure or Ctrl-C.

Run as root with /usr/bin/python3:
  sudo /usr/bin/python3 tests/bench/lab/bench_repl_conntrackd.py --build build [-n 1000000]
or `meson test -C build --benchmark repl-conntrackd`.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_lab import Failed, Lab, sh  # noqa: E402  (the shared namespace plumbing)

SYNC_A, SYNC_B, SYNC_PORT = "10.77.0.1", "10.77.0.2", 3780
GEN_LOCAL, GEN_HOP, GEN_BASE = "10.78.0.1", "10.78.0.2", "10.128.0.0"
CT_MAX_PATH = "/proc/sys/net/netfilter/nf_conntrack_max"
WAIT_S = 60  # the longest any one phase may take before it is reported as not reached
POLL_S = 0.05


def bench_repl(path, n):
    """Our figures: bench_repl's dump of n entries and its stream (n/2)."""
    r = sh(path, str(n), timeout=180)
    dump = re.search(r"dump of (\d+) entries until the standby is ready: ([\d.]+) s", r.stdout)
    stream = re.search(r"stream of (\d+) updates until applied: ([\d.]+) s", r.stdout)
    if not dump or not stream:
        raise Failed(f"bench_repl: unexpected output: {r.stdout} {r.stderr}")
    return ((int(dump.group(1)), float(dump.group(2))),
            (int(stream.group(1)), float(stream.group(2))))


class CtdLab(Lab):
    def __init__(self, tools):
        super().__init__(tools, 0, None)
        self.n = 0
        self.a, self.b = f"ctda{self.tag}", f"ctdb{self.tag}"
        self.conf = {}
        self.ct_max_old = None
        self.wire = None

    # ---- topology and daemons -------------------------------------------------

    def fit(self, n):
        """The largest N up to n the kernel's table limit allows, raising the
        limit for the run if need be (it is the kernel's: a namespace may
        only lower it; the entries count per namespace). Sets self.n."""
        with open(CT_MAX_PATH) as f:
            cur = int(f.read())
        self.n = n
        if cur >= n + 65536:
            return n
        try:
            self.ct_max_old = cur
            with open(CT_MAX_PATH, "w") as f:
                f.write(str(n + 65536))
        except OSError:
            self.n = max(cur - 65536, 1000)
        return self.n

    def up(self):
        for ns in (self.a, self.b):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            self.ns(ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "s0", "netns", self.a, "type", "veth", "peer", "name", "s0",
           "netns", self.b)
        for ns, addr in ((self.a, SYNC_A), (self.b, SYNC_B)):
            self.ns(ns, "ip", "addr", "add", addr + "/30", "dev", "s0")
            self.ns(ns, "ip", "link", "set", "s0", "up")
        # the flows' way out: a veth whose peer stays down drops what it is
        # given, after POSTROUTING (where conntrack confirms the entry)
        self.ns(self.a, "ip", "link", "add", "g0", "type", "veth", "peer", "name", "g1")
        self.ns(self.a, "ip", "addr", "add", GEN_LOCAL + "/30", "dev", "g0")
        self.ns(self.a, "ip", "link", "set", "g0", "up")
        self.ns(self.a, "ip", "neigh", "replace", GEN_HOP, "lladdr", "02:00:00:00:00:02",
                "dev", "g0", "nud", "permanent")
        self.ns(self.a, "ip", "route", "add", GEN_BASE + "/16", "via", GEN_HOP, "dev", "g0",
                "onlink")
        # conntrack hooks a namespace only when a rule needs it
        path = os.path.join(self.tmp, "track.nft")
        with open(path, "w") as f:
            f.write("table ip ctd_track {\n  chain out {\n"
                    "    type filter hook output priority filter;\n"
                    "    ct state new counter\n  }\n}\n")
        self.ns(self.a, "nft", "-f", path)
        self.ns(self.a, "sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=3600")
        self.ns(self.a, "sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout_stream=3600")
        self.daemons = {ns: self.conntrackd(ns, me, peer)
                        for ns, me, peer in ((self.a, SYNC_A, SYNC_B), (self.b, SYNC_B, SYNC_A))}

    def conntrackd(self, ns, me, peer):
        name = "ctd-" + ("a" if ns == self.a else "b")
        conf = os.path.join(self.tmp, name + ".conf")
        # Sized for the run: the caches may hold 2N, the netlink socket may grow
        # to 256 MiB before an overrun makes it resynchronize from the
        # kernel table, socket buffers of 24 MiB on the sync link, a resend
        # queue of 1M messages (FTFW resends from it on a NACK).
        limit = max(2 * self.n, 262144)
        with open(conf, "w") as f:
            f.write(f"""Sync {{
	Mode FTFW {{
		ResendQueueSize 1048576
		StartupResync off
	}}
	UDP {{
		IPv4_address {me}
		IPv4_Destination_Address {peer}
		Port {SYNC_PORT}
		Interface s0
		SndSocketBuffer 24985600
		RcvSocketBuffer 24985600
		Checksum on
	}}
}}
General {{
	HashSize {1 << max(limit.bit_length() - 2, 15)}
	HashLimit {limit}
	LogFile off
	Syslog off
	LockFile {self.tmp}/{name}.lock
	UNIX {{
		Path {self.tmp}/{name}.sock
	}}
	NetlinkBufferSize 8388608
	NetlinkBufferSizeMaxGrowth 268435456
	NetlinkOverrunResync on
	Filter From Userspace {{
		Protocol Accept {{
			UDP
		}}
		Address Ignore {{
			IPv4_address 127.0.0.1
			IPv4_address {SYNC_A}
			IPv4_address {SYNC_B}
		}}
	}}
}}
""")
        self.conf[ns] = conf
        p = self.spawn(ns, "conntrackd", "-C", conf, name=name)
        end = time.monotonic() + 10
        while self.counts(ns, check=False) is None:
            if time.monotonic() > end or p.poll() is not None:
                raise Failed(f"{name} does not answer: {self.log_of(p)[-1500:]}" +
                             self.tail(name))
            time.sleep(0.1)
        return p

    def tail(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log")) as f:
                return "\n" + f.read()[-1500:]
        except FileNotFoundError:
            return ""

    def client(self, ns, *args, timeout=60, check=True):
        # the client only talks to the daemon's UNIX socket: no namespace needed
        return sh("conntrackd", "-C", self.conf[ns], *args, timeout=timeout, check=check)

    def counts(self, ns, check=True):
        """(internal, external) cache entries of the daemon in ns; None if it
        does not answer and not check. A daemon busy reading a burst of
        events (or resynchronizing from the kernel after an overrun) answers
        late: a slow answer is not a failure."""
        try:
            r = self.client(ns, "-s", timeout=WAIT_S / 2, check=False)
        except subprocess.TimeoutExpired:
            r = None
        found = dict(re.findall(r"cache (internal|external):\s*\n"
                                r"current active connections:\s+(\d+)",
                                r.stdout if r else ""))
        if len(found) < 2:
            if check:
                raise Failed(f"conntrackd -s in {ns}: " +
                             (f"{r.stdout} {r.stderr}" if r else "no answer"))
            return None
        return int(found["internal"]), int(found["external"])

    def down(self):
        super().down()
        if self.ct_max_old is not None:
            with open(CT_MAX_PATH, "w") as f:
                f.write(str(self.ct_max_old))

    # ---- measurements -------------------------------------------------------------

    def wait_count(self, ns, which, want, t0, limit=WAIT_S):
        """Seconds from t0 until the daemon in ns holds want entries in its
        internal (0) or external (1) cache; (None, count) if not within limit."""
        end = time.monotonic() + limit
        while True:
            n = self.counts(ns)[which]
            now = time.monotonic()
            if n >= want:
                return now - t0, n
            if now > end:
                return None, n
            for p in self.daemons.values():
                if p.poll() is not None:
                    raise Failed(f"conntrackd exited: {self.log_of(p)[-1500:]}")
            time.sleep(POLL_S)

    def fill(self, first, count):
        """Start ctfill for flows first..first+count at full speed."""
        return self.spawn(self.a, self.tools["ctfill"], GEN_BASE, str(first), str(count), "0",
                          str(WAIT_S), name=f"ctfill-{first}")

    def fill_done(self, p):
        p.wait(WAIT_S + 10)
        m = re.search(r"sent (\d+) packets in ([\d.]+) s \((\d+) failed\)", self.log_of(p))
        if not m:
            raise Failed(f"ctfill: {self.log_of(p)}")
        return int(m.group(1)), float(m.group(2)), int(m.group(3))

    def live(self, m):
        """M new flows in A at full speed; until B's external cache has them.
        Also the most B's external cache trailed A's internal one, which says
        whether the sync or the flows' creation set the pace."""
        t0 = time.monotonic()
        gen = self.fill(0, m)
        end, lag, t_a = t0 + WAIT_S, 0, None
        while True:
            # B first: A's count read after it can only be ahead
            (_, eb), (ia, _) = self.counts(self.b), self.counts(self.a)
            now = time.monotonic()
            lag = max(lag, ia - eb)
            if t_a is None and ia >= m:
                t_a = now - t0
            if eb >= m or now > end:
                break
            time.sleep(POLL_S)
        t_b = now - t0 if eb >= m else None
        sent, t_gen, failed = self.fill_done(gen)
        print(f"  live: ctfill created {sent} flows in {t_gen:.2f} s ({sent / t_gen:.0f}/s, "
              f"{failed} send failures); A's internal cache had them after "
              + (f"{t_a:.2f} s" if t_a is not None else "-") + ", B's external cache "
              + (f"after {t_b:.2f} s" if t_b is not None else
                 f"held only {eb} after {WAIT_S} s")
              + f"; B trailed A by at most {lag} entries (polled every {POLL_S} s)", flush=True)
        return t_b, lag

    def ceiling(self, m):
        """Flows per second A's kernel creates with no conntrackd listening,
        from an empty table as in the live phase: what the live figure
        would be if conntrackd cost nothing."""
        for p in self.daemons.values():
            self.stop(p)
        self.ns(self.a, "conntrack", "-F", check=False, timeout=WAIT_S)
        sent, t, _ = self.fill_done(self.fill(0, m))
        print(f"  kernel alone (daemons stopped, table flushed): ctfill created {sent} flows "
              f"in {t:.2f} s ({sent / t:.0f}/s)", flush=True)
        return sent / t

    def dump(self, n):
        """Fill A to n flows, then B: flush external cache, resync, until n."""
        ia, _ = self.counts(self.a)
        if ia < n:
            gen = self.fill(ia, n - ia)
            self.fill_done(gen)
            t, got = self.wait_count(self.a, 0, n, time.monotonic())
            if t is None:
                raise Failed(f"A's internal cache reached only {got} of {n} entries")
        self.client(self.b, "-f", "external")
        end = time.monotonic() + 10
        while self.counts(self.b)[1]:
            if time.monotonic() > end:
                raise Failed("B's external cache does not empty after -f external")
            time.sleep(POLL_S)
        sent0 = self.sent_bytes()
        t0 = time.monotonic()
        self.client(self.b, "-n")
        t, got = self.wait_count(self.b, 1, n, t0)
        self.wire = (self.sent_bytes() - sent0) / max(got, 1)
        net = re.search(r"(\d+) Malformed msgs\s+(\d+) Lost msgs",
                        self.client(self.b, "-s").stdout)
        print("  dump: B's external cache " +
              (f"held {n} entries {t:.2f} s after conntrackd -n" if t is not None else
               f"held only {got} of {n} entries {WAIT_S} s after conntrackd -n") +
              (f"; B counted {net.group(2)} lost and {net.group(1)} malformed messages "
               "since its start" if net else "") +
              f"; A sent {self.wire:.0f} bytes of UDP payload per entry", flush=True)
        return t, got

    def sent_bytes(self):
        """UDP payload bytes A's conntrackd sent on the sync link so far."""
        m = re.search(r"(\d+) Bytes sent", self.client(self.a, "-s").stdout)
        if not m:
            raise Failed("conntrackd -s in A: no UDP traffic counters")
        return int(m.group(1))

    def commit(self, n):
        """B's external cache into B's kernel table (conntrackd -c waits for it)."""
        t0 = time.monotonic()
        r = self.client(self.b, "-c", timeout=WAIT_S * 2, check=False)
        t = time.monotonic() - t0
        kernel = self.ns(self.b, "conntrack", "-C", check=False).stdout.strip()
        print(f"  commit: conntrackd -c took {t:.2f} s (exit {r.returncode}); B's kernel "
              f"table now holds {kernel} entries", flush=True)
        return t, int(kernel) if kernel.isdigit() else 0


def table(n, ours, theirs):
    (d_n, d_t), (s_n, s_t) = ours
    dt = n / theirs["dump"] if theirs["dump"] else None
    rows = [("live sync, entries/s", f"{s_n / s_t:.0f}", theirs["live"], s_n / s_t, "{:.0f}"),
            (f"dump of {n}, entries/s", f"{d_n / d_t:.0f}", theirs["dump"], d_n / d_t, "{:.0f}"),
            (f"dump of {n}, seconds", f"{d_t:.2f}", dt, dt / d_t if dt else None, "{:.2f}")]
    if theirs.get("commit"):
        rows.append((f"conntrackd -c of {n} into the kernel, s", "-", theirs["commit"], None,
                     "{:.2f}"))
    w = max(len(r[0]) for r in rows)
    print()
    print(f"| {'figure':{w}} | {'loom repl':>10} | {'conntrackd':>10} | {'loom/ctd':>8} |")
    print(f"| {'-' * w} | {'-' * 9}: | {'-' * 9}: | {'-' * 7}: |")
    for title, o, t, ratio_base, fmt in rows:
        ratio = "-"
        if t and ratio_base:
            # both rows of rates compare rates; the seconds row compares speed too
            ratio = f"{ratio_base / t:.2f}" if "seconds" not in title else f"{ratio_base:.2f}"
        print(f"| {title:{w}} | {o:>10} | {fmt.format(t) if t else '-':>10} | {ratio:>8} |")
    print(f"\nlive: ours {s_n} updates of existing entries, theirs {theirs['m']} new flows"
          + (f" (A's kernel alone created {theirs['ceiling']:.0f} flows/s with no conntrackd "
             "listening)" if theirs.get("ceiling") else "") + ".")
    print("loom/ctd > 1: loom faster.")
    wire = f"{theirs['wire']:.0f} bytes" if theirs.get("wire") else "(not measured)"
    print(f"""
What differs:
- entries: ours are opaque 16-byte keys with 32-byte values (bench_repl);
  theirs are conntrack entries as conntrackd encodes them (original tuple,
  status, timeout, ...): {wire} of UDP payload per entry in the dump above.
- transport: ours is ZeroMQ over TCP on loopback with CurveZMQ
  (encrypted and authenticated), both members in one namespace; theirs is
  FTFW over plain UDP unicast on a veth between two namespaces, no
  encryption (checksums only), sequence numbers with ACK/NACK and resends.
- "applied": ours is in the standby daemon's table, through its apply
  callback (what a takeover uses); theirs is in conntrackd's external cache
  (user space), which reaches the kernel only on `conntrackd -c` (the extra
  row above, when measured).
- the live figure: ours updates existing entries as fast as the active
  submits them; theirs is new flows as fast as one sender creates them in
  the kernel, read by conntrackd from ctnetlink events (an overrun makes it
  resynchronize from the kernel table), then sent; it includes the
  kernel's flow creation. When B trails A by little (the live line above)
  the creation set the pace and theirs is a lower bound of what the sync
  could carry; conntrackd runs SCHED_RR by default and takes CPU from the
  sender on a small machine.
- the dump: ours includes the standby's start, connection and hello (up to
  one 200 ms heartbeat); theirs starts from a running, connected daemon.""")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("-n", "--entries", type=int, default=1000000,
                    help="entries of the dump (default 1000000); the live figure uses n/2")
    ap.add_argument("--no-commit", action="store_true",
                    help="skip timing conntrackd -c into B's kernel table")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_repl_conntrackd: needs root (network namespaces); skipped")
        return 77
    if not shutil.which("conntrackd") or not shutil.which("conntrack"):
        print("bench_repl_conntrackd: conntrackd or conntrack not installed "
              "(apt-get install conntrackd conntrack); skipped")
        return 77
    b = args.build
    tools = {"bench_repl": os.environ.get("LOOM_BENCH_REPL") or f"{b}/tests/bench/bench_repl",
             "ctfill": os.environ.get("LOOM_CTFILL") or f"{b}/tests/bench/lab/ctfill"}
    for name, path in tools.items():
        if not os.access(path, os.X_OK):
            print(f"bench_repl_conntrackd: {name} not found at {path} (--build?)")
            return 1
    if not 1000 <= args.entries <= 4000000:
        print("bench_repl_conntrackd: --entries 1000..4000000")
        return 2

    # SIGTERM (meson's timeout) unwinds like Ctrl-C: the lab is removed
    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    lab = CtdLab(tools)
    try:
        n = lab.fit(args.entries)
        m = n // 2
        print(f"replication against conntrackd {lab.tag}: N={n} (dump), M={m} (live), "
              f"{os.cpu_count()} CPUs" + (f"; the kernel's nf_conntrack_max does not allow "
                                          f"{args.entries}" if n < args.entries else ""),
              flush=True)
        ours = bench_repl(tools["bench_repl"], n)
        print(f"  ours: dump of {ours[0][0]} in {ours[0][1]:.2f} s, stream of {ours[1][0]} "
              f"in {ours[1][1]:.2f} s", flush=True)
        lab.up()
        theirs = {"m": m}
        t, _ = lab.live(m)
        theirs["live"] = m / t if t else None
        t, _ = lab.dump(n)
        theirs["dump"] = n / t if t else None
        theirs["wire"] = lab.wire
        if not args.no_commit and t:
            theirs["commit"] = lab.commit(n)[0]
        theirs["ceiling"] = lab.ceiling(m)
        table(n, ours, theirs)
    except (Failed, subprocess.TimeoutExpired) as e:
        print(f"bench_repl_conntrackd: FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        print("bench_repl_conntrackd: interrupted")
        return 130
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
