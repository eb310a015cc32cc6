# SPDX-License-Identifier: LGPL-2.1-or-later
"""Upgrade restart: a second loom-fwd-agent started with --takeover joins
the fanout group, serves from the running agent's tables, makes it leave
and becomes the writer, while an iperf3 stream crosses the router. UDP at a
fixed rate counts the lost packets (the target is none; a packet that
reaches an old socket between its last drain and its close is lost, about
one run in eight at 200 packets/s, so up to LOSS_BOUND are tolerated: the
loss before the fanout and close fixes was 12-87); TCP must complete.
The figures (lost packets, the throughput gap) are printed: run with -s."""
import json
import os
import signal
import statistics
import subprocess
import time

from conftest import ns_run, wait_until

LOSS_BOUND = 3  # packets; see the module's comment
SECONDS = 6
SWAP_AT = 2.5  # seconds into the stream
PPS = int(os.environ.get("LOOM_UPGRADE_PPS", "200"))  # 1000-byte datagrams a second
RATE = f"{PPS * 8}K"


def log_of(p):
    with open(p.log_path, errors="replace") as f:
        return f.read()


def iperf(lab, *args):
    """iperf3 client in cli against a one-off server in srv; returns the
    client's Popen (JSON on stdout) and the server's."""
    srv = subprocess.Popen(["ip", "netns", "exec", lab.srv, "iperf3", "-s", "-1", "-p", "5299",
                            "-i", "0.1", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lab.procs.append(srv)
    wait_until(lambda: ":5299 " in ns_run(lab.srv, "ss", "-Hltn").stdout, 5,
               what="iperf3 to listen")
    cli = subprocess.Popen(["ip", "netns", "exec", lab.cli, "iperf3", "-c", "10.2.0.11", "-p",
                            "5299", "-t", str(SECONDS), "-i", "0.1", "--json", *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lab.procs.append(cli)
    # SWAP_AT counts from the stream's start, not from iperf3's process start
    wait_until(lambda: ns_run(lab.srv, "ss", "-Htn", "state", "established", "sport", "=",
                              ":5299").stdout.strip() or cli.poll() is not None, 10,
               what="iperf3 to connect")
    return cli, srv


def upgrade_during(lab, cli):
    """Start the new agent SWAP_AT seconds into the stream; wait until the
    old one has exited and the new one is the writer."""
    old = lab.procs[0]
    time.sleep(SWAP_AT)
    # ready once it has taken the tables over
    new = lab.start_agent(lab.config, "--takeover")
    assert "took over instance" in log_of(new), log_of(new)
    assert old.wait(10) == 0, log_of(old)
    os.replace(os.path.join(lab.tmp, "stats"), os.path.join(lab.tmp, "stats.old"))
    out, err = cli.communicate(timeout=SECONDS + 20)
    assert cli.returncode == 0, err + out[-2000:]
    return new, json.loads(out)


def receiver(srv):
    """The iperf3 server's report (it ends with the stream)."""
    out, _ = srv.communicate(timeout=10)
    return json.loads(out)


def gap(res):
    """The throughput dip, from the receiver's 100 ms intervals: the lowest
    against the median, and how many fell below half of it."""
    ivs = res["intervals"]
    bps = [iv["sum"]["bits_per_second"] for iv in ivs]
    med = statistics.median(bps)
    return (min(bps) / med if med else 0.0), med, sum(b < med / 2 for b in bps)


def counters(lab, new):
    """For a failure: both routers' links, the old agent's counters (written
    when it left) and the new one's."""
    new.send_signal(signal.SIGTERM)
    new.wait(5)
    out = ns_run(lab.rtr, "ip", "-s", "link").stdout + ns_run(lab.srv, "ip", "-s", "link").stdout
    for name in ("stats.old", "stats"):
        with open(os.path.join(lab.tmp, name)) as f:
            out += f"--- {name}\n" + "".join(ln for ln in f if not ln.split()[1] == "0")
    return out


def setup_lab(lab):
    lab.config = lab.agent_config()
    lab.start_agent(lab.config)
    # neighbours known before the stream: no first packet waits for ARP
    wait_until(lambda: ns_run(lab.cli, "ping", "-c", "1", "-W", "1", "10.2.0.11",
                              check=False).returncode == 0, 15, what="ping through the agent")


def count_arrivals(ns):
    """Count the stream's packets as they reach the server, before the
    socket buffer of an iperf3 the busy machine may not schedule in time."""
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], check=True, text=True,
                   input="table inet loomtest {\n chain pre {\n  type filter hook prerouting "
                         "priority -400;\n  udp dport 5299 counter\n }\n}\n")


def arrivals(ns):
    out = ns_run(ns, "nft", "-j", "list", "table", "inet", "loomtest").stdout
    for item in json.loads(out)["nftables"]:
        for e in item.get("rule", {}).get("expr", []):
            if "counter" in e:
                return e["counter"]["packets"]
    raise AssertionError("no counter in " + out)


def test_upgrade_udp_no_loss(lab):
    setup_lab(lab)
    count_arrivals(lab.srv)
    cli, srv = iperf(lab, "-u", "-b", RATE, "-l", "1000", "-w", "4M")
    new, res = upgrade_during(lab, cli)
    rx = receiver(srv)
    arrived = arrivals(lab.srv)
    sent = res["end"]["sum"]["packets"]
    s = rx["end"]["sum"]
    low, med, dips = gap(rx)
    print(f"\nUDP {RATE}bit/s: {sent} packets sent, {arrived} reached the server, iperf3 "
          f"counts {s['lost_packets']} lost; lowest 100 ms interval at the receiver {low:.0%} "
          f"of the median ({med / 1e6:.2f} Mbit/s), {dips} below half")
    assert sent >= SECONDS * PPS * 0.9
    # iperf3's own closing datagram arrives too
    assert arrived + LOSS_BOUND >= sent and s["lost_packets"] <= LOSS_BOUND, \
        f"{s['lost_packets']} of {sent} packets lost: " + counters(lab, new)
    # the new agent forwards on its own afterwards
    ns_run(lab.cli, "ping", "-c", "2", "-i", "0.2", "-W", "2", "10.2.0.11")


def test_upgrade_tcp_completes(lab):
    setup_lab(lab)
    cli, srv = iperf(lab)
    new, res = upgrade_during(lab, cli)
    sent = res["end"]["sum_sent"]
    low, med, dips = gap(receiver(srv))
    print(f"\nTCP: {sent['bytes'] / 1e6:.0f} MB in {sent['seconds']:.1f} s, "
          f"{sent.get('retransmits', 0)} retransmits, lowest 100 ms interval at the receiver "
          f"{low:.0%} of the median ({med / 1e9:.2f} Gbit/s), {dips} below half")
    assert res["end"]["sum_received"]["bytes"] > 0
    assert res["end"]["sum_received"]["seconds"] >= SECONDS - 0.5
    assert new.poll() is None
