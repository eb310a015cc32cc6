# SPDX-License-Identifier: LGPL-2.1-or-later
"""loom-svc-mgr in larger topologies: two agents on asymmetric paths, two
managers sharing an agent by client domain, a cascade of two managers on one
virtual address, and a NAT gateway."""
import json

from conftest import backends_yaml, ns_run, served_by

VIP = "10.9.0.1"
URL = f"http://{VIP}/"


def lb(name, weights, more=""):
    return f"""  - name: {name}
    address: {VIP}
    port: 80
{more}    backends:
{backends_yaml(weights)}"""


def created_ms(listing, f):
    """A flow's creation on the host's monotonic clock (both daemons share it)."""
    return listing["now_ms"] - f["age_ms"]


def test_asymmetric_two_agents(topo):
    """Requests through agent A, replies through agent B: the manager
    decides each connection once and answers B from its flow table."""
    cli = topo.netns("cli")
    ra = topo.netns("ra", forwarding=False)
    rb = topo.netns("rb", forwarding=False)
    sw = topo.netns("sw")
    topo.veth(cli, "c0", ra, "a0", ("10.1.0.2/24",), ("10.1.0.1/24",))
    topo.veth(cli, "c1", rb, "b0", ("10.3.0.2/24",), ("10.3.0.1/24",))
    topo.route(cli, "default", "via", "10.1.0.1")
    # the replies come in on c1 from an address routed through c0
    for conf in ("all", "default", "c1"):
        ns_run(cli, "sysctl", "-qw", f"net.ipv4.conf.{conf}.rp_filter=0")
    topo.bridge(sw, "br0")
    topo.bridge_port(ra, "a1", sw, "br0", "pa", ("10.2.0.1/24",))
    topo.bridge_port(rb, "b1", sw, "br0", "pb", ("10.2.0.254/24",))
    topo.route(rb, "10.1.0.0/24", "via", "10.3.0.2")
    servers = []
    for i in (1, 2):
        ns = topo.netns(f"s{i}")
        topo.bridge_port(ns, "eth0", sw, "br0", f"p{i}", (f"10.2.0.1{i}/24",))
        topo.route(ns, "default", "via", "10.2.0.254")
        servers.append(topo.nginx(f"srv{i}", ns))
    topo.warm_neighbours(ra, "10.1.0.2", "10.2.0.11", "10.2.0.12")
    topo.warm_neighbours(rb, "10.3.0.2", "10.2.0.11", "10.2.0.12")

    mgr = topo.manager("mgr", ra, lb("web", [1, 1]))
    agent_a = topo.agent("agenta", ra, ["a0", "a1"], [mgr])
    agent_b = topo.agent("agentb", rb, ["b0", "b1"], [mgr])
    agent_a.wait_wildcards(3)
    agent_b.wait_wildcards(3)

    codes = topo.curl_many(cli, URL, 6)
    assert codes == [200] * 6, codes
    assert served_by(servers, "10.1.0.2", total=6) == [3, 3]
    flows = mgr.flows()["flows"]
    assert len(flows) == 6, flows
    assert all(len(set(f["agents"])) == 2 for f in flows), \
        [f["agents"] for f in flows]
    mgr.stop()
    s = mgr.stats()
    assert s["decided"] == 6, s
    # every connection's first reply came through B, which had to ask
    assert s["answered"] >= 6, s


def test_two_managers_by_client_domain(topo):
    """M1 decides for 10.1.0.0/25, M2 for 10.1.0.128/25, on one agent and
    one virtual address: each domain is served, each manager decides only
    its own clients' flows."""
    topo.lb_lab(3, ("10.1.0.2/24", "10.1.0.130/24"))
    m1 = topo.manager("m1", topo.rtr, lb("web", [1, 1, 1], "    clients: [ 10.1.0.0/25 ]\n"))
    m2 = topo.manager("m2", topo.rtr, lb("web", [1, 1, 1], "    clients: [ 10.1.0.128/25 ]\n"))
    agent = topo.agent("agent", topo.rtr, ["a0", "br0"], [m1, m2])
    agent.wait_wildcards(8)

    for client in ("10.1.0.2", "10.1.0.130"):
        codes = topo.curl_many(topo.cli, URL, 9, "--interface", client)
        assert codes == [200] * 9, (client, codes)
        assert served_by(topo.servers, client, total=9) == [3, 3, 3], client
    for m, client in ((m1, "10.1.0.2"), (m2, "10.1.0.130")):
        clients = [f["client"]["address"] for f in m.flows()["flows"]]
        assert clients == [client] * 9, (m.name, clients)
    for m in (m1, m2):
        m.stop()
        assert m.stats()["decided"] == 9, m.name


def test_cascade_observe_then_lb(topo):
    """An observe service at precedence 200 (M1) and the lb service at 100
    (M2) on one virtual address: each new flow visits M1 first, then M2
    decides it, and the connection works."""
    topo.lb_lab(3)
    m1 = topo.manager("m1", topo.rtr, f"""  - name: watch
    type: observe
    address: {VIP}
    port: 80
    precedence: 200
""")
    m2 = topo.manager("m2", topo.rtr, lb("web", [1, 1, 1], "    precedence: 100\n"))
    agent = topo.agent("agent", topo.rtr, ["a0", "br0"], [m1, m2])
    agent.wait_wildcards(5)

    ports = (46000, 46001, 46002)
    for p in ports:
        rc, body = topo.curl(topo.cli, URL, "--local-port", str(p), timeout=5)
        assert rc == 0 and body.startswith("hello from srv"), (p, rc, body)
    l1, l2 = m1.flows(), m2.flows()
    seen = {f["client"]["port"]: f for f in l1["flows"]}
    decided = {f["client"]["port"]: f for f in l2["flows"]}
    assert set(seen) == set(ports) and set(decided) == set(ports), (seen, decided)
    for p in ports:
        assert seen[p]["type"] == "seen" and decided[p]["type"] == "lb"
        # M1 recorded the flow before M2 decided it
        assert created_ms(l1, seen[p]) <= created_ms(l2, decided[p]), p
    m1.stop()
    m2.stop()
    s1, s2 = m1.stats(), m2.stats()
    assert s1["observed"] == 3 and s1["decided"] == 0, s1
    assert s2["decided"] == 3 and s2["observed"] == 0, s2


# The error a private client's connected UDP socket gets for a datagram to a
# closed port of the public server: ECONNREFUSED from the ICMP the kernel
# matched to this socket by the quote (so the quote carries the client's own
# private address and port), and the error queue's details.
UDP_PROBE = r"""
import json, select, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_IP, 11, 1)  # IP_RECVERR
s.bind(("192.168.50.2", 40002))
s.connect(("203.0.113.100", 9))
s.send(b"probe")
poller = select.poll()
poller.register(s, select.POLLERR)
ready = poller.poll(3000)
out = {"error": bool(ready)}
if ready:
    s.settimeout(1)
    try:
        s.recv(64)
    except ConnectionRefusedError:
        out["refused"] = True
    data, anc, flags, addr = s.recvmsg(64, 512, socket.MSG_ERRQUEUE)
    errno_, origin, typ, code = struct.unpack_from("=IBBB", anc[0][2])
    offender = socket.inet_ntoa(anc[0][2][16 + 4:16 + 8])
    out.update(errno=errno_, origin=origin, type=typ, code=code, offender=offender,
               payload=data.decode(), dest=list(addr))
print(json.dumps(out))
"""


def test_nat_gateway(topo):
    """Private clients reach a public server through a NAT service: the
    server sees only pool addresses, the same inside port from two clients
    gets two mappings, ICMP errors and echo come back translated."""
    rtr = topo.netns("rtr", forwarding=False)
    topo.bridge(rtr, "bri", ("192.168.50.1/24",))
    clients = []
    for i, a in ((1, "192.168.50.2"), (2, "192.168.50.3")):
        ns = topo.netns(f"c{i}")
        topo.bridge_port(ns, "eth0", rtr, "bri", f"p{i}", (a + "/24",))
        topo.route(ns, "default", "via", "192.168.50.1")
        clients.append(ns)
    pub = topo.netns("pub")
    topo.veth(rtr, "o0", pub, "eth0", ("203.0.113.1/24",), ("203.0.113.100/24",))
    # the pool is routed to the gateway
    topo.route(pub, "203.0.113.8/30", "via", "203.0.113.1")
    server = topo.nginx("pubsrv", pub)
    topo.warm_neighbours(rtr, "192.168.50.2", "192.168.50.3", "203.0.113.100")

    mgr = topo.manager("mgr", rtr, """  - name: nat
    type: nat
    protocol: any
    clients: [ 192.168.50.0/24 ]
    pool: [ 203.0.113.8/30 ]
""")
    agent = topo.agent("agent", rtr, ["bri", "o0"], [mgr])
    agent.wait_wildcards(2)

    for ns in clients:
        rc, body = topo.curl(ns, "http://203.0.113.100/", "--local-port", "40000", timeout=5)
        assert rc == 0 and body == "hello from pubsrv\n", (ns, rc, body)
    seen = [(a, p) for a, p, _, _ in server.wait_lines(2)]
    pool = {f"203.0.113.{i}" for i in (8, 9, 10, 11)}
    assert len(seen) == 2 and all(a in pool for a, _ in seen), seen
    assert seen[0] != seen[1], f"two inside endpoints share a mapping: {seen}"

    r = ns_run(clients[0], "/usr/bin/python3", "-c", UDP_PROBE, timeout=10)
    err = json.loads(r.stdout)
    assert err["error"], "no ICMP error came back to the private client"
    assert err.get("refused") and err["errno"] == 111, err
    assert (err["origin"], err["type"], err["code"]) == (2, 3, 3), err  # ICMP port unreachable
    assert err["offender"] == "203.0.113.100" and err["payload"] == "probe", err

    for ns in clients:
        r = ns_run(ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", "203.0.113.100", check=False)
        assert r.returncode == 0, (ns, r.stdout)
    # the manager's mappings are what the server saw
    flows = mgr.flows()["flows"]
    tcp = {(f["virtual"]["address"], f["virtual"]["port"]) for f in flows if f["proto"] == 6}
    assert tcp == set(seen), (tcp, seen)
    icmp = [f for f in flows if f["proto_name"] == "icmp"]
    assert sorted(f["client"]["address"] for f in icmp) == ["192.168.50.2", "192.168.50.3"]
    assert all(f["virtual"]["address"] in pool for f in icmp), icmp
    mgr.stop()
    # two TCP connections, one UDP exchange, two pings
    assert mgr.stats()["decided"] == 5, mgr.stats()
