# SPDX-License-Identifier: LGPL-2.1-or-later
"""loom-svc-mgr balancing real connections through loom-fwd-agent: weights,
draining, health checks, Maglev and flows across a manager restart."""
import os
import subprocess
import time

from conftest import backends_yaml, served_by, settled, sha256_file, wait_until
from test_svc_standby import CurlLoop, first_decision_after

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
    got = served_by(topo.servers, "10.1.0.2", total=300)
    assert sum(got) == 300, got
    for n, want in zip(got, (150, 100, 50)):
        assert abs(n - want) <= 9, f"served {got}, expected 150/100/50 +-9"
    rc, body = topo.curl(topo.cli, f"http://[{VIP6}]/")
    assert rc == 0 and body.startswith("hello from srv"), (rc, body)
    assert sum(served_by(topo.servers, "fd01::2", total=1)) == 1
    # the services snapshot is rebuilt every second
    svc = wait_until(lambda: (s := mgr.service("web"))["decided"] >= 300 and s, 5,
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
        f = wait_until(flow, 10, what="the download's flow")[0]
        drained = [f"10.2.0.1{i}" for i in (1, 2, 3)].index(f["server"]["address"])
        weights = [1, 1, 1]
        weights[drained] = 0
        wait_until(lambda: os.path.exists(out) and os.path.getsize(out) > (256 << 10), 10,
                   what="the download to start")
        mgr.reload(web(weights))
        b = mgr.service("web")["backends"][drained]
        assert b["weight"] == 0 and b["drained"], b
        before = served_by(topo.servers, "10.1.0.2")
        codes = topo.curl_many(topo.cli, f"http://{VIP}/", 100)
        assert codes == [200] * 100, set(codes)
        after = served_by(topo.servers, "10.1.0.2", total=sum(before) + 100)
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
    def logged(lines):
        return any(ln[2] == "/big" and ln[1] == 45000 for ln in lines)
    assert logged(settled(lambda: topo.servers[drained].requests_from("10.1.0.2"), logged, 5))


def test_health_down_and_up(topo):
    """HTTP checks every 200 ms, rise 2, fall 2: a killed nginx is reported
    down within (fall + 1) x interval + slack and gets nothing; restarted, it
    is up within rise x interval + slack and serves again."""
    interval, rise, fall, slack = 0.2, 2, 2, 1.0
    health = (f"    health: {{ type: http, interval: 200ms, timeout: 150ms, rise: {rise}, "
              f"fall: {fall} }}\n")
    mgr, agent = start_lab(topo, web([1, 1, 1], health=health))
    wait_until(lambda: mgr.service("web")["backends_up"] == 3, 5, what="3 backends up")

    # The manager logs a change the moment it makes it; loomctl shows it
    # from the next services snapshot, up to a second later: the times are
    # measured on the log, the snapshot is then waited for.
    def changes(state):
        return mgr.log().count(f"service web: backend 10.2.0.13 port 80 is {state}")

    def snapshot_shows(state, up):
        svc = mgr.service("web")
        return svc["backends"][2]["health"] == state and svc["backends_up"] == up

    victim = topo.servers[2]
    downs = changes("down")
    victim.kill()
    t0 = time.monotonic()
    wait_until(lambda: changes("down") > downs, (fall + 1) * interval + slack, step=0.01,
               what="the killed backend down")
    took = time.monotonic() - t0
    wait_until(lambda: snapshot_shows("down", 2), 3, what="loomctl to show it down")
    codes = topo.curl_many(topo.cli, f"http://{VIP}/", 60)
    assert codes == [200] * 60, f"requests failed after the backend went down: {codes}"
    got = served_by(topo.servers, "10.1.0.2", total=60)
    assert got[2] == 0 and got[0] + got[1] == 60, got

    ups = changes("up")
    victim.start()
    t1 = time.monotonic()
    wait_until(lambda: changes("up") > ups, rise * interval + slack, step=0.01,
               what="the restarted backend up")
    back = time.monotonic() - t1
    wait_until(lambda: snapshot_shows("up", 3), 3, what="loomctl to show it up")
    codes = topo.curl_many(topo.cli, f"http://{VIP}/", 30)
    assert codes == [200] * 30, set(codes)
    got = served_by(topo.servers, "10.1.0.2", total=90)
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
        for c in clients:  # the last answers' log lines may still be on their way
            served_by(topo.servers, c, total=1)
        return {c: [i for i, s in enumerate(topo.servers) if s.requests_from(c)]
                for c in clients}

    first = round_of_requests()
    assert all(len(v) == 1 for v in first.values()), first
    assert len({v[0] for v in first.values()}) >= 2, f"all clients on one backend: {first}"

    mgr.kill()
    mgr.start()
    assert "took over the flow table" in mgr.this_run(), mgr.log()
    # the old wildcards are still in the agent's table: wait for the agent
    # itself to be back with the new manager
    mgr.wait_agent(agent)
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
        time.sleep(0.5)  # the manager stays away a while
        # new connections back to back from before the restart; the time is
        # the manager's own (its flow table's), not a client's process start
        curls = CurlLoop(topo)
        try:
            mgr.start()
            restarted = mgr.started_at
            wait_until(lambda: any(s >= restarted and ok for s, _, ok in curls.results), 5,
                       what="a new connection after the restart")
        finally:
            curls.stop()
        first_ok = first_decision_after(mgr, restarted)
        print(f"a client's connection completed {curls.recovered_after(restarted):.3f}s "
              "after the restart")
        assert first_ok < 1.0, f"first new connection decided {first_ok:.3f}s after the restart"
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
