# SPDX-License-Identifier: LGPL-2.1-or-later
"""loom-svc-mgr balancing real connections through loom-fwd-agent: weights,
draining, health checks, Maglev and flows across a manager restart."""
import os
import subprocess
import time

from conftest import backends_yaml, served_by, sha256_file, wait_until

VIP = "10.9.0.1"
VIP6 = "fd09::1"
MGR_EXTRA = "address: 10.2.0.1\n"


def web(weights, name="web", vip=VIP, alg="wrr", health="", more=""):
    return f"""  - name: {name}
    address: {vip}
    port: 80
    algorithm: {alg}
{more}{health}    backends:
{backends_yaml(weights)}"""


def web6(weights):
    return "  - name: web6\n    address: \"fd09::1\"\n    port: 80\n    backends:\n" + "".join(
        f"      - {{ address: \"fd02::1{i + 1}\", weight: {w} }}\n"
        for i, w in enumerate(weights))


def start_lab(topo, services, servers=3, clients=("10.1.0.2/24",), wildcards=None):
    topo.lb_lab(servers, clients)
    mgr = topo.manager("mgr", topo.rtr, services, MGR_EXTRA)
    agent = topo.agent("agent", topo.rtr, ["a0", "br0"], [mgr])
    # per service: one client wildcard and one reply wildcard per backend
    agent.wait_wildcards(wildcards or (servers + 1))
    return mgr, agent


def test_weights(topo):
    """300 connections to a 3:2:1 wrr service land 150/100/50 (within 3%),
    seen in the servers' access logs; an IPv6 virtual service answers."""
    mgr, agent = start_lab(topo, web([3, 2, 1]) + web6([1, 1, 1]), wildcards=8)
    codes = topo.curl_many(topo.cli, f"http://{VIP}/", 300)
    assert codes == [200] * 300, f"{len(codes)} answers, not all 200: {set(codes)}"
    got = served_by(topo.servers, "10.1.0.2")
    assert sum(got) == 300, got
    for n, want in zip(got, (150, 100, 50)):
        assert abs(n - want) <= 9, f"served {got}, expected 150/100/50 +-9"
    rc, body = topo.curl(topo.cli, f"http://[{VIP6}]/")
    assert rc == 0 and body.startswith("hello from srv"), (rc, body)
    assert sum(served_by(topo.servers, "fd01::2")) == 1
    # the services snapshot is rebuilt every second
    svc = wait_until(lambda: (s := mgr.service("web"))["decided"] >= 300 and s, 2.5,
                     what="the snapshot's figures")
    assert svc["decided"] == 300, svc
    assert [b["decided"] for b in svc["backends"]] == got
    mgr.stop()
    assert mgr.stats()["decided"] == 301


def test_drain_keeps_established(topo):
    """Weight 0 on reload: no new connection reaches the backend, while a
    download it serves since before the reload completes byte-exact."""
    mgr, agent = start_lab(topo, web([1, 1, 1]))
    topo.small_receive_buffer(topo.cli)
    sums = [s.put_file("big", 4 << 20) for s in topo.servers]
    out = os.path.join(topo.tmp, "big.out")
    dl = subprocess.Popen(["ip", "netns", "exec", topo.cli, "curl", "-s", "--max-time", "30",
                           "--limit-rate", "1M", "--local-port", "45000", "-o", out,
                           f"http://{VIP}/big"])
    try:
        # the backend serving the download, from the manager's flow table
        def flow():
            return [f for f in mgr.flows()["flows"] if f["client"]["port"] == 45000]
        f = wait_until(flow, 5, what="the download's flow")[0]
        drained = [f"10.2.0.1{i}" for i in (1, 2, 3)].index(f["server"]["address"])
        weights = [1, 1, 1]
        weights[drained] = 0
        wait_until(lambda: os.path.exists(out) and os.path.getsize(out) > (256 << 10), 5,
                   what="the download to start")
        mgr.reload(web(weights))
        b = mgr.service("web")["backends"][drained]
        assert b["weight"] == 0 and b["drained"], b
        before = served_by(topo.servers, "10.1.0.2")
        codes = topo.curl_many(topo.cli, f"http://{VIP}/", 100)
        assert codes == [200] * 100, set(codes)
        after = served_by(topo.servers, "10.1.0.2")
        assert after[drained] == before[drained], f"drained backend got new connections: {after}"
        assert sum(after) - sum(before) == 100
        assert dl.wait(30) == 0, "the download through the drained backend broke"
    finally:
        if dl.poll() is None:
            dl.kill()
            dl.wait()
    assert os.path.getsize(out) == 4 << 20
    assert sha256_file(out) == sums[drained]
    # the download is in the drained backend's log, finished after the reload
    assert any(ln[2] == "/big" and ln[1] == 45000
               for ln in topo.servers[drained].requests_from("10.1.0.2"))


def test_health_down_and_up(topo):
    """HTTP checks every 200 ms, rise 2, fall 2: a killed nginx is reported
    down within (fall + 1) x interval + slack and gets nothing; restarted, it
    is up within rise x interval + slack and serves again."""
    interval, rise, fall, slack = 0.2, 2, 2, 1.0
    health = (f"    health: {{ type: http, interval: 200ms, timeout: 150ms, rise: {rise}, "
              f"fall: {fall} }}\n")
    mgr, agent = start_lab(topo, web([1, 1, 1], health=health))
    wait_until(lambda: mgr.service("web")["backends_up"] == 3, 3, what="3 backends up")

    victim = topo.servers[2]
    victim.kill()
    t0 = time.monotonic()
    wait_until(lambda: mgr.service("web")["backends"][2]["health"] == "down",
               (fall + 1) * interval + slack, step=0.02, what="the killed backend down")
    took = time.monotonic() - t0
    assert mgr.service("web")["backends_up"] == 2
    codes = topo.curl_many(topo.cli, f"http://{VIP}/", 60)
    assert codes == [200] * 60, f"requests failed after the backend went down: {codes}"
    got = served_by(topo.servers, "10.1.0.2")
    assert got[2] == 0 and got[0] + got[1] == 60, got

    victim.start()
    t1 = time.monotonic()
    wait_until(lambda: mgr.service("web")["backends"][2]["health"] == "up",
               rise * interval + slack, step=0.02, what="the restarted backend up")
    back = time.monotonic() - t1
    codes = topo.curl_many(topo.cli, f"http://{VIP}/", 30)
    assert codes == [200] * 30, set(codes)
    got = served_by(topo.servers, "10.1.0.2")
    assert got[2] >= 5, f"the restarted backend serves again: {got}"
    print(f"down after {took:.2f}s, up after {back:.2f}s")


def test_maglev_same_backend_across_restart(topo):
    """20 clients on a Maglev (source hash) service keep their backend when
    the manager is SIGKILLed and restarted; the new one takes the table over."""
    clients = [f"10.1.0.{100 + i}" for i in range(20)]
    services = web([1, 1, 1], alg="maglev", more="    maglev-hash: source\n")
    mgr, agent = start_lab(topo, services, clients=["10.1.0.2/24"] + [c + "/24" for c in clients])

    def round_of_requests():
        for c in clients:
            rc, body = topo.curl(topo.cli, f"http://{VIP}/", "--interface", c, timeout=5)
            assert rc == 0 and body.startswith("hello from srv"), (c, rc)
        return {c: [i for i, s in enumerate(topo.servers) if s.requests_from(c)]
                for c in clients}

    first = round_of_requests()
    assert all(len(v) == 1 for v in first.values()), first
    assert len({v[0] for v in first.values()}) >= 2, f"all clients on one backend: {first}"

    mgr.kill()
    mgr.start()
    assert "took over the flow table" in mgr.log(), mgr.log()
    agent.wait_wildcards(4)
    for s in topo.servers:  # the second round is told apart from the first
        os.truncate(s.access, 0)
    second = round_of_requests()
    assert second == first
    mgr.stop()
    assert mgr.stats()["decided"] == 20, "the restarted manager decided the second round"


def test_manager_sigkill_during_transfer(topo):
    """A rate-limited download through the virtual address survives a
    SIGKILL of the manager byte-exact; the restarted manager finds the flow
    in its table; new connections work within a second of the restart."""
    mgr, agent = start_lab(topo, web([1, 1, 1]))
    topo.small_receive_buffer(topo.cli)
    sums = [s.put_file("blob", 12 << 20) for s in topo.servers]
    out = os.path.join(topo.tmp, "blob.out")
    dl = subprocess.Popen(["ip", "netns", "exec", topo.cli, "curl", "-s", "--max-time", "40",
                           "--limit-rate", "3M", "--local-port", "45001", "-o", out,
                           f"http://{VIP}/blob"])
    try:
        wait_until(lambda: os.path.exists(out) and os.path.getsize(out) > (3 << 20), 10,
                   what="the transfer to be under way")
        mgr.kill()
        killed_at = os.path.getsize(out)
        time.sleep(0.5)
        mgr.start()
        restarted = mgr.started_at
        # the first new connection after the restart, bounded
        first_ok = None
        while time.monotonic() - restarted < 3:
            rc, body = topo.curl(topo.cli, f"http://{VIP}/", timeout=0.3)
            if rc == 0 and body.startswith("hello from srv"):
                first_ok = time.monotonic() - restarted
                break
        assert first_ok is not None and first_ok < 1.0, \
            f"first new connection {first_ok}s after the restart"
        log = mgr.log()
        assert "took over the flow table" in log and "recovered" in log, log
        flows = [f for f in mgr.flows()["flows"] if f["client"]["port"] == 45001]
        assert len(flows) == 1 and flows[0]["state"] == "established", flows
        assert dl.wait(40) == 0, "the transfer broke across the manager's restart"
    finally:
        if dl.poll() is None:
            dl.kill()
            dl.wait()
    assert killed_at < 12 << 20
    srv = [f"10.2.0.1{i}" for i in (1, 2, 3)].index(flows[0]["server"]["address"])
    assert os.path.getsize(out) == 12 << 20 and sha256_file(out) == sums[srv]
    print(f"first new connection {first_ok:.3f}s after the restart")
