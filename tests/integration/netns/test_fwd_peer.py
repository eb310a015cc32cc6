# SPDX-License-Identifier: LGPL-2.1-or-later
"""Peer mode: two routers whose agents share their fixed affinities
(replication over tcp:// with CurveZMQ on a link of their own), between a
client and a server, balanced by one loom-svc-mgr. Flows (two rate-limited
downloads, an iperf3 stream) start through router A; a route change in the
client and the server moves them to router B. They go on, and the manager's
counters at exit show that nobody asked it about them again.

    cli 10.1.0.2 [brc] --- a0 rtrA a1 --- [brs] 10.2.0.11 srv (nginx, iperf3)
                   \\--- b0 rtrB b1 ---/
                  rtrA r0 10.5.0.1 ---- 10.5.0.2 r0 rtrB   (replication)

The svc tests' namespace lab (tests/integration/svc/conftest.py) builds it
and cleans up, also on failure."""
import importlib.util
import os
import subprocess
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

_spec = importlib.util.spec_from_file_location(
    "svc_lab", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "svc",
                            "conftest.py"))
svc_lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(svc_lab)
topo = svc_lab.topo  # the fixture: a Topo, torn down after the test
wait_until, ns_run, sha256_file = svc_lab.wait_until, svc_lab.ns_run, svc_lab.sha256_file

VIP = "10.9.0.1"
SERVICES = """  - name: web
    address: 10.9.0.1
    port: 80
    backends:
      - { address: 10.2.0.11, weight: 1 }
  - name: perf
    address: 10.9.0.1
    port: 5201
    backends:
      - { address: 10.2.0.11, weight: 1 }
"""
Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def z85(raw):
    out = ""
    for i in range(0, len(raw), 4):
        v, chunk = int.from_bytes(raw[i:i + 4], "big"), ""
        for _ in range(5):
            v, r = divmod(v, 85)
            chunk = Z85[r] + chunk
        out += chunk
    return out


def curve_keypair(tmp, name):
    """A CurveZMQ key pair: the public key (Z85) and the secret key's file."""
    k = x25519.X25519PrivateKey.generate()
    secret = k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    public = k.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
    path = os.path.join(tmp, f"{name}.secret")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(z85(secret) + "\n")
    return z85(public), path


def replication(topo, me, peer, keys, grace="30s"):
    """The agent configuration's peer-mode keys for agent `me`."""
    addr = {"rtra": "10.5.0.1", "rtrb": "10.5.0.2"}
    return f"""public-key: "{keys[me][0]}"
secret-key-file: {keys[me][1]}
replication:
  listen: "tcp://{addr[me]}:7400"
  heartbeat: 100ms
  dead-time: 500ms
  grace: {grace}
  peers:
    - instance: {topo.prefix}{peer}
      endpoint: "tcp://{addr[peer]}:7400"
      public-key: "{keys[peer][0]}"
"""


def lab(topo):
    t = topo
    t.cli = t.netns("cli")
    t.rtra = t.netns("rtra", forwarding=False)
    t.rtrb = t.netns("rtrb", forwarding=False)
    t.srv = t.netns("srv")
    t.bridge(t.cli, "brc", ("10.1.0.2/24",))
    t.bridge(t.srv, "brs", ("10.2.0.11/24",))
    t.bridge_port(t.rtra, "a0", t.cli, "brc", "pa", ("10.1.0.1/24",))
    t.bridge_port(t.rtrb, "b0", t.cli, "brc", "pb", ("10.1.0.3/24",))
    t.bridge_port(t.rtra, "a1", t.srv, "brs", "sa", ("10.2.0.1/24",))
    t.bridge_port(t.rtrb, "b1", t.srv, "brs", "sb", ("10.2.0.3/24",))
    t.veth(t.rtra, "r0", t.rtrb, "r0", ("10.5.0.1/24",), ("10.5.0.2/24",))
    t.route(t.cli, "default", "via", "10.1.0.1")
    t.route(t.srv, "default", "via", "10.2.0.1")
    t.warm_neighbours(t.rtra, "10.1.0.2", "10.2.0.11")
    t.warm_neighbours(t.rtrb, "10.1.0.2", "10.2.0.11")
    ns_run(t.cli, "sysctl", "-qw", "net.ipv4.tcp_rmem=4096 65536 131072")
    return t


def stats(path):
    """An agent's stats file: counter name (or key) -> value; the first of a name wins."""
    out = {}
    with open(path) as f:
        for line in f:
            key, _, name = line.partition(" # ")
            k, v = key.split()[:2]
            out.setdefault(name.strip() or k, int(v))
    return out


def test_flows_move_to_a_peer_without_a_punt(topo):
    t = lab(topo)
    keys = {n: curve_keypair(t.tmp, n) for n in ("rtra", "rtrb")}
    mgr = t.manager("mgr", t.rtra, SERVICES, "address: 10.2.0.1\n")
    a = t.agent("rtra", t.rtra, ["a0", "a1"], [mgr], replication(t, "rtra", "rtrb", keys))
    b = t.agent("rtrb", t.rtrb, ["b0", "b1"], [mgr], replication(t, "rtrb", "rtra", keys))
    for ag in (a, b):  # per service a client and a reply wildcard
        ag.wait_wildcards(4)
    nginx = t.nginx("web", t.srv)
    sums = [nginx.put_file(f"f{i}", 1_500_000) for i in range(2)]
    iperf_srv = svc_lab.Daemon(t, "iperf", t.srv, ["iperf3", "-s", "-1"], "")
    t.daemons.append(iperf_srv)
    iperf_srv.start()
    wait_until(lambda: ":5201 " in ns_run(t.srv, "ss", "-Hltn").stdout, 5,
               what="iperf3 to listen")

    def copies_at_b(n):
        wait_until(lambda: len(b.topo.ctl(b.instance, "affinity", "list")["fixed"]) >= n, 15,
                   what=f"agent B to hold {n} copies of A's affinities")

    # through router A: an iperf3 stream, two downloads at 300 KB/s (5 s
    # each); B holds copies of A's affinities for each flow, both ways
    stream = subprocess.Popen(["ip", "netns", "exec", t.cli, "iperf3", "-c", VIP, "-t", "6",
                               "-b", "200M", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    copies_at_b(2 * 2)  # iperf3's control and data connections
    got = [os.path.join(t.tmp, f"got{i}") for i in range(2)]
    downloads = [subprocess.Popen(
        ["ip", "netns", "exec", t.cli, "curl", "-s", "--max-time", "20", "--limit-rate",
         "300K", "-o", got[i], f"http://{VIP}/f{i}"])
        for i in range(2)]
    flows = 4  # two downloads, iperf3's control and data connections
    copies_at_b(2 * flows)
    # a second of each download through A
    wait_until(lambda: all(os.path.exists(g) and os.path.getsize(g) > 300_000 for g in got),
               10, what="the downloads to be under way through router A")

    # the move: client and server now route through router B
    ns_run(t.cli, "ip", "route", "replace", "default", "via", "10.1.0.3")
    ns_run(t.srv, "ip", "route", "replace", "default", "via", "10.2.0.3")
    moved = time.monotonic()

    for i, p in enumerate(downloads):
        assert p.wait(20) == 0, f"download {i} failed after the move"
        assert sha256_file(got[i]) == sums[i], f"download {i} corrupt"
    out, err = stream.communicate(timeout=20)
    assert stream.returncode == 0, err + out[-2000:]
    assert time.monotonic() - moved > 2, "the flows ended before they moved"

    mgr.stop()
    a.stop()
    b.stop()
    m = mgr.stats()
    sa, sb = stats(os.path.join(t.tmp, "rtra.stats")), stats(os.path.join(t.tmp, "rtrb.stats"))
    print(f"\nmanager: punts {m['punts']}, decided {m['decided']}, answered {m['answered']}; "
          f"agent B: fixed hits {sb['fixed affinity hits']}, wildcard matches "
          f"{sb['wildcard matches']}, copies applied {sb['copies applied']}; agent A: "
          f"repl.sent {sa['repl.sent']}")
    # every punt the manager saw was a first packet through A: none after the move
    assert m["decided"] == flows, m
    assert m["punts"] == flows and m["answered"] == 0, m
    assert sb["fixed affinity hits"] > 1000, "the flows did not cross router B"
    assert sb["wildcard matches"] == 0, "a packet at B missed the copied affinities"
    assert sb["copies applied"] >= 2 * flows
    assert sa["copies applied"] == 0, "agent B sent A's affinities back"
