# SPDX-License-Identifier: LGPL-2.1-or-later
"""loom-fwd-agent as a plain router on the AF_XDP back end: ping and curl (IPv4
and IPv6) pass through it while the router's kernel does not forward; the
router's own addresses still answer (ARP, neighbour discovery and ping stay
with the kernel), and the XDP programs are gone once the agent exits."""
from conftest import ns_run, wait_until
from test_fwd_router import stats

# ethtool -K DEV tx off without an ethtool binary: ETHTOOL_STXCSUM through
# SIOCETHTOOL. AF_XDP frames carry no checksum metadata, so a veth peer that
# offloads its checksums would have them forwarded unfinished.
TX_CSUM_OFF = """
import fcntl, socket, struct, sys
ev = struct.pack("II", 0x17, 0)            # ETHTOOL_STXCSUM, off
buf = bytearray(ev)
addr = __import__("ctypes").addressof((__import__("ctypes").c_char * len(buf)).from_buffer(buf))
ifr = struct.pack("16sP", sys.argv[1].encode(), addr)
fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), 0x8946, ifr)  # SIOCETHTOOL
"""


def xdp_on(lab, dev):
    return "xdp" in ns_run(lab.rtr, "ip", "link", "show", "dev", dev).stdout


def test_router_on_afxdp(lab):
    ns_run(lab.cli, "/usr/bin/python3", "-c", TX_CSUM_OFF, "c0")
    ns_run(lab.srv, "/usr/bin/python3", "-c", TX_CSUM_OFF, "s0")
    lab.nginx()
    r = ns_run(lab.cli, "ping", "-c", "1", "-W", "1", "10.2.0.11", check=False)
    assert r.returncode != 0, "the router's kernel forwarded"

    # the lab's veths have one queue each: one worker (docs/pktio.md, AF_XDP)
    agent = lab.start_agent(lab.agent_config(backend="afxdp", workers=1))
    wait_until(lambda: xdp_on(lab, "a0") and xdp_on(lab, "a1"), 5, what="XDP programs")
    wait_until(lambda: ns_run(lab.cli, "ping", "-c", "1", "-W", "1", "10.2.0.11",
                              check=False).returncode == 0, 15, what="ping through the agent")
    r = ns_run(lab.cli, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.2.0.11")
    assert " 0% packet loss" in r.stdout
    r = ns_run(lab.cli, "curl", "-s", "--max-time", "10", "http://10.2.0.11/")
    assert r.stdout == "hello from srv\n"
    wait_until(lambda: ns_run(lab.cli, "ping", "-6", "-c", "1", "-W", "1", "fd02::11",
                              check=False).returncode == 0, 15, what="ping6 through the agent")
    r = ns_run(lab.cli, "curl", "-s", "-6", "--max-time", "10", "http://[fd02::11]/")
    assert r.stdout == "hello from srv\n"
    log = lab.access_log(lines=2)
    assert "10.1.0.2" in log and "fd01::2" in log, log
    # the router itself still answers on the agent's interfaces
    ns_run(lab.cli, "ip", "neigh", "flush", "all")
    r = ns_run(lab.cli, "ping", "-c", "2", "-i", "0.2", "-W", "2", "10.1.0.1")
    assert " 0% packet loss" in r.stdout
    r = ns_run(lab.cli, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "fd01::1")
    assert " 0% packet loss" in r.stdout

    agent.terminate()
    agent.wait(10)
    assert not xdp_on(lab, "a0") and not xdp_on(lab, "a1"), "XDP programs left behind"
    s = stats(lab)
    assert s["forwarded by the routing table"] > 10
    assert s["dropped: malformed"] == 0
