# SPDX-License-Identifier: LGPL-2.1-or-later
"""Direct return (seed 002, issue 8): the agent on a backend's host translates
the replies itself and sends them straight to the client, bypassing the
ingress agent; without an instruction the replies take the normal way.

  cli  c0 10.1.0.2 ----------- a0 10.1.0.1  rtr  (ingress agent + manager,
       c1 10.5.0.2 --+                b1 10.3.1.1   kernel forwarding off)
                     |                b2 10.3.2.1
                     |                 |      |
                     |     u1 10.3.1.2 h1     h2 u2 10.3.2.2  (host agents,
                     |     e1 10.2.1.1 |      |  e2 10.2.2.1   kernel
                     |     d1 10.4.1.2 |      |  d2 10.4.2.2   forwarding on)
                     |           srv1 10.2.1.11  srv2 10.2.2.11 (nginx, iperf3)
                     +-- xc 10.5.0.1  dr  x1 10.4.1.1, x2 10.4.2.1
                                          (the direct return path)

The servers' routes lead back through rtr; only a reply a host agent
translated goes to dr (its direct-return-via), and from there to the
client's second interface. rtr's links to the hosts carry the replies only
when they go the normal way, so their receive counters tell which way the
replies went.
"""
import json
import subprocess
import time

from conftest import ns_run, served_by, sha256_file, wait_until

VIP = "10.9.0.1"


def services(direct, extra=""):
    hosts = "".join(f"      - {{ address: 10.2.{i}.11, port: 80, host-agent: {{h}}{i} }}\n"
                    for i in (1, 2))
    return f"""  - name: web
    address: {VIP}
    port: 80
    clients: [ 10.1.0.0/24 ]
    direct-return: {direct}
{extra}    backends:
{hosts}  - name: perf
    address: {VIP}
    port: 5201
    clients: [ 10.1.0.0/24 ]
    direct-return: {direct}
{extra}    backends:
      - {{ address: 10.2.1.11, port: 5201, host-agent: {{h}}1 }}
"""


class Lab:
    def __init__(self, topo, direct="always", extra=""):
        self.topo = topo
        t = topo
        self.cli = t.netns("cli")
        self.rtr = t.netns("rtr", forwarding=False)
        self.dr = t.netns("dr")
        ns_run(self.cli, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
        ns_run(self.dr, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        t.veth(self.cli, "c0", self.rtr, "a0", ("10.1.0.2/24",), ("10.1.0.1/24",))
        t.veth(self.cli, "c1", self.dr, "xc", ("10.5.0.2/24",), ("10.5.0.1/24",))
        ns_run(self.cli, "sysctl", "-qw", "net.ipv4.conf.c1.rp_filter=0")
        t.route(self.cli, "default", "via", "10.1.0.1")
        t.route(self.dr, "10.1.0.0/24", "via", "10.5.0.2")
        self.hosts, self.srv = [], []
        for i in (1, 2):
            h = t.netns(f"h{i}")
            # the fallback: with its agent gone, the host's kernel forwards
            ns_run(h, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            s = t.netns(f"s{i}")
            t.veth(h, f"u{i}", self.rtr, f"b{i}", (f"10.3.{i}.2/24",), (f"10.3.{i}.1/24",))
            t.veth(h, f"e{i}", s, "eth0", (f"10.2.{i}.1/24",), (f"10.2.{i}.11/24",))
            t.veth(h, f"d{i}", self.dr, f"x{i}", (f"10.4.{i}.2/24",), (f"10.4.{i}.1/24",))
            t.route(h, "default", "via", f"10.3.{i}.1")
            t.route(s, "default", "via", f"10.2.{i}.1")
            t.route(self.rtr, f"10.2.{i}.0/24", "via", f"10.3.{i}.2")
            t.route(self.dr, f"10.2.{i}.0/24", "via", f"10.4.{i}.2")
            t.warm_neighbours(h, f"10.3.{i}.1", f"10.2.{i}.11", f"10.4.{i}.1")
            t.warm_neighbours(self.rtr, f"10.3.{i}.2")
            self.hosts.append(h)
            self.srv.append(s)
        t.warm_neighbours(self.rtr, "10.1.0.2")
        self.nginx = [t.nginx(f"srv{i}", self.srv[i - 1]) for i in (1, 2)]
        self.iperf = subprocess.Popen(["ip", "netns", "exec", self.srv[0], "iperf3", "-s",
                                       "-1", "--forceflush"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        wait_until(lambda: ":5201 " in ns_run(self.srv[0], "ss", "-Hltn").stdout, 5,
                   what="iperf3 to listen")
        self.extra = extra
        self.mgr = t.manager("mgr", self.rtr, self.services(direct),
                             "agent-timeout: 1500ms\nheartbeat: 300ms\n")
        self.ingress = t.agent("ingress", self.rtr, ["a0", "b1", "b2"], [self.mgr])
        self.host = [self.host_agent(i) for i in (1, 2)]
        self.ingress.wait_wildcards(2)
        for h in self.host:
            h.wait_wildcards(1)

    def services(self, direct):
        return services(direct, self.extra).replace("{h}", self.topo.prefix + "h")

    def host_agent(self, i):
        return self.topo.agent(f"h{i}", self.hosts[i - 1], [f"u{i}", f"e{i}", f"d{i}"],
                               [self.mgr], f"mode: host\ndirect-return-via: 10.4.{i}.1\n")

    def close(self):
        if self.iperf.poll() is None:
            self.iperf.kill()
        self.iperf.wait()

    def rx(self, i):
        """Packets rtr received from host i: replies that went the normal way."""
        r = ns_run(self.rtr, "cat", f"/sys/class/net/b{i}/statistics/rx_packets")
        return int(r.stdout)

    def rx_direct(self):
        """Packets the client received on the direct return path."""
        r = ns_run(self.cli, "cat", "/sys/class/net/c1/statistics/rx_packets")
        return int(r.stdout)

    def iperf3(self, seconds, during=None):
        """A download (the server sends: -R) of `seconds`; during(t) runs
        t seconds into the stream, t = 1..seconds, each on time whatever
        the ones before took. Returns iperf3's JSON report."""
        p = subprocess.Popen(["ip", "netns", "exec", self.cli, "iperf3", "-c", VIP, "-R",
                              "-t", str(seconds), "-b", "200M", "-J", "-i", "0.5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if during:
                # the stream's seconds count from its data connection: the
                # second of the service's flows (the first is the control)
                wait_until(lambda: len(self.mgr.flows("-s", "perf")["flows"]) >= 2 or
                           p.poll() is not None, 10, what="iperf3's data connection")
                start = time.monotonic()
                for t in range(1, seconds + 1):
                    time.sleep(max(0.0, start + t - time.monotonic()))
                    during(t)
            out, err = p.communicate(timeout=seconds + 20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 0, f"iperf3 failed: {err}\n{out[-2000:]}\n{self.topo.logs()}"
        return json.loads(out)


def received(report):
    return report["end"]["sum_received"]["bytes"]


def intervals(report):
    return [iv["sum"]["bytes"] for iv in report["intervals"]]


def reply_packets(agent):
    """Packets the ingress agent's reply affinities (server -> client) carried."""
    fixed = agent.topo.ctl(agent.instance, "affinity", "list", "-f")["fixed"]
    return sum(f["packets"] for f in fixed if f["src"].startswith("10.2."))


def assert_stream_ok(report):
    """iperf3 ended normally (a reset or a stall would end it with an error)
    and every half second carried data. (Its sender counts what it wrote,
    its receiver what arrived before the timer ended: they differ by what
    was in flight, so bytes are checked with a download's checksum.)"""
    assert "error" not in report, report["error"]
    assert received(report) > 10_000_000
    assert min(intervals(report)) > 0, f"a stall: {intervals(report)}"


class Download:
    """A rate-limited download of a file both servers hold, checked by its
    SHA-256 at the end: a byte lost or changed in either direction fails it."""

    def __init__(self, lab, size=6 << 20, rate="1500K"):
        self.lab = lab
        self.sums = {n.put_file("big.bin", size) for n in lab.nginx}
        self.out = f"{lab.topo.tmp}/big.out"
        self.p = subprocess.Popen(["ip", "netns", "exec", lab.cli, "curl", "-s", "-o", self.out,
                                   "--limit-rate", rate, "--max-time", "30",
                                   f"http://{VIP}/big.bin"])

    def check(self):
        assert self.p.wait(40) == 0, "the download failed"
        assert sha256_file(self.out) in self.sums, "the download arrived corrupted"


def test_direct_return_bypasses_the_ingress_agent(topo):
    lab = Lab(topo, "always")
    try:
        before = [lab.rx(1), lab.rx(2)], lab.rx_direct()
        codes = topo.curl_many(lab.cli, f"http://{VIP}/", 6)
        assert codes == [200] * 6
        assert served_by(lab.nginx, "10.1.0.2", total=6) == [3, 3]
        report = lab.iperf3(3)
        assert_stream_ok(report)
        after = [lab.rx(1), lab.rx(2)], lab.rx_direct()
        normal = sum(after[0]) - sum(before[0])
        direct = after[1] - before[1]
        print(f"direct: {direct} packets on the direct path, {normal} through rtr")
        # ARP and neighbour probes only: no reply of any flow passed rtr
        assert normal < 20, f"{normal} packets from the hosts passed the ingress router"
        assert direct > 200
        assert reply_packets(lab.ingress) == 0, "the ingress agent translated replies"
        flows = lab.mgr.flows("-s", "perf")["flows"]
        assert flows and all("direct" in f["flags"] for f in flows)
    finally:
        lab.close()
    lab.mgr.stop()
    st = lab.mgr.stats()
    assert st["direct-handed"] >= 7


def test_without_instructions_replies_pass_the_ingress_agent(topo):
    lab = Lab(topo, "never")
    try:
        before = sum([lab.rx(1), lab.rx(2)]), lab.rx_direct()
        assert topo.curl_many(lab.cli, f"http://{VIP}/", 4) == [200] * 4
        report = lab.iperf3(2)
        assert_stream_ok(report)
        normal = sum([lab.rx(1), lab.rx(2)]) - before[0]
        direct = lab.rx_direct() - before[1]
        assert normal > 200, "the replies did not pass the ingress agent"
        assert direct < 20, f"{direct} packets took the direct path uninstructed"
        assert reply_packets(lab.ingress) > 200
    finally:
        lab.close()
    lab.mgr.stop()
    assert lab.mgr.stats()["direct-handed"] == 0


def test_switching_a_running_stream_both_ways_loses_nothing(topo):
    lab = Lab(topo, "never")
    marks = {}

    def during(t):
        marks[t] = (lab.rx(1), lab.rx_direct())
        if t == 2:
            lab.mgr.reload(lab.services("always"))
        elif t == 4:
            lab.mgr.reload(lab.services("never"))

    try:
        dl = Download(lab)
        report = lab.iperf3(6, during)
        assert_stream_ok(report)
        dl.check()
        # seconds 3-4: direct; seconds 5-6: through rtr again
        direct_phase = marks[4][1] - marks[3][1], marks[4][0] - marks[3][0]
        back_phase = marks[6][1] - marks[5][1], marks[6][0] - marks[5][0]
        print(f"direct phase (direct, rtr) {direct_phase}, back {back_phase}, "
              f"retransmits {report['end']['sum_sent'].get('retransmits')}")
        # each phase's packets go one way; a few stragglers and ARP the other
        # (absolute counts depend on the machine's load: compare the ways)
        assert direct_phase[0] > 100 and direct_phase[1] < max(20, direct_phase[0] // 20)
        assert back_phase[1] > 100 and back_phase[0] < max(20, back_phase[1] // 20)
    finally:
        lab.close()
    lab.mgr.stop()
    st = lab.mgr.stats()
    assert st["direct-handed"] >= 1 and st["direct-taken"] >= 1


def test_host_agent_killed_the_stream_survives(topo):
    lab = Lab(topo, "always")
    marks = {}

    def during(t):
        marks[t] = (lab.rx(1), lab.rx_direct())
        if t == 2:
            lab.host[0].kill()
        elif t == 5:
            lab.host[0].start()

    try:
        report = lab.iperf3(8, during)
        assert_stream_ok(report)
        # while it was gone the kernel forwarded the replies the normal way
        assert marks[4][0] - marks[3][0] > 100
    finally:
        lab.close()
    log = lab.host[0].log()
    assert log.count("running: instance") == 2
    lab.mgr.stop()
    st = lab.mgr.stats()
    assert st["agents-lost"] >= 1
    assert st["direct-fallback"] >= 1, st


def test_bytes_threshold_hands_over_mid_stream(topo):
    lab = Lab(topo, "bytes", "    direct-return-bytes: 4000000\n")
    try:
        before = lab.rx(1), lab.rx_direct()
        report = lab.iperf3(3)
        assert_stream_ok(report)
        normal, direct = lab.rx(1) - before[0], lab.rx_direct() - before[1]
        print(f"bytes: {normal} packets through rtr first, then {direct} direct")
        # the first 4 MB of replies through rtr, the rest straight to the client
        assert normal > 20 and direct > 100
        flows = lab.mgr.flows("-s", "perf")["flows"]
        assert any({"bytes", "direct"} <= set(f["flags"]) for f in flows), flows
    finally:
        lab.close()
