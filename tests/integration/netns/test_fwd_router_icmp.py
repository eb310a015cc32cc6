# SPDX-License-Identifier: LGPL-2.1-or-later
"""loom-fwd-agent answers like a router (RFC 1812, RFC 4443): time exceeded
for TTL 1, fragmentation needed / packet too big past a smaller MTU, from
its address on the client's side, so ping -t, tracepath and path-MTU
discovery work through it."""
import re
import shutil

import pytest

from conftest import ns_run, wait_until
from test_fwd_router import stats


def ping(lab, *args):
    return ns_run(lab.cli, "ping", "-n", "-c", "1", "-W", "2", *args, check=False)


def up(lab):
    lab.start_agent(lab.agent_config())
    for v in ("-4", "-6"):
        dst = "10.2.0.11" if v == "-4" else "fd02::11"
        wait_until(lambda: ping(lab, v, dst).returncode == 0, 15,
                   what=f"ping {v} through the agent")


def test_time_exceeded(lab):
    up(lab)
    r = ping(lab, "-t", "1", "10.2.0.11")
    assert re.search(r"From 10\.1\.0\.1 icmp_seq=1 Time to live exceeded", r.stdout), r.stdout
    r = ping(lab, "-6", "-t", "1", "fd02::11")
    assert re.search(r"From fd01::1 icmp_seq=1 Time exceeded: Hop limit", r.stdout), r.stdout
    # TTL 2 gets past the agent: the server answers
    assert ping(lab, "-t", "2", "10.2.0.11").returncode == 0
    lab.procs[0].terminate()
    lab.procs[0].wait(10)
    s = stats(lab)
    assert s["dropped: TTL or hop limit expired"] == 2
    assert s["ICMP errors sent (time exceeded, unreachable, too big)"] == 2


def test_path_mtu(lab):
    ns_run(lab.rtr, "ip", "link", "set", "a1", "mtu", "1280")
    up(lab)
    r = ping(lab, "-M", "do", "-s", "1400", "10.2.0.11")
    assert re.search(r"From 10\.1\.0\.1 icmp_seq=1 Frag needed and DF set \(mtu = 1280\)",
                     r.stdout), r.stdout
    r = ping(lab, "-6", "-M", "do", "-s", "1400", "fd02::11")
    assert re.search(r"From fd01::1 icmp_seq=1 Packet too big: mtu=1280", r.stdout), r.stdout
    # the client learnt the path MTU: what fits goes through
    assert ping(lab, "-M", "do", "-s", "1200", "10.2.0.11").returncode == 0
    assert ping(lab, "-6", "-M", "do", "-s", "1200", "fd02::11").returncode == 0
    lab.procs[0].terminate()
    lab.procs[0].wait(10)
    s = stats(lab)
    assert s["dropped: larger than the egress MTU (IPv4 with DF, IPv6)"] == 2
    assert s["ICMP errors sent (time exceeded, unreachable, too big)"] == 2


@pytest.mark.skipif(not shutil.which("tracepath"), reason="tracepath not installed")
def test_tracepath(lab):
    ns_run(lab.rtr, "ip", "link", "set", "a1", "mtu", "1280")
    up(lab)
    r = ns_run(lab.cli, "tracepath", "-n", "10.2.0.11", check=False)
    assert "10.1.0.1" in r.stdout and "pmtu 1280" in r.stdout, r.stdout
