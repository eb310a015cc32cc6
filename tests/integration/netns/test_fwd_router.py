# SPDX-License-Identifier: LGPL-2.1-or-later
"""loom-fwd-agent as a plain router: with no affinities, ping and a curl of a
real nginx pass through it, while the router's kernel does not forward."""
import subprocess
import time

from conftest import cpu_seconds, ns_run, wait_until


def stats(lab):
    out = {}
    with open(f"{lab.tmp}/stats") as f:
        for line in f:
            name, value = line.split("#", 1)[0].split()
            desc = line.split("#", 1)[1].strip() if "#" in line else name
            out[desc] = int(value)
    return out


def test_router_without_affinities(lab):
    lab.nginx()
    # without the agent nothing crosses: the router's kernel forwarding is off
    r = ns_run(lab.cli, "ping", "-c", "1", "-W", "1", "10.2.0.11", check=False)
    assert r.returncode != 0, "the router's kernel forwarded"

    lab.start_agent(lab.agent_config())
    # the first packets may go while the agent asks the kernel for the neighbour
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

    lab.procs[0].terminate()
    lab.procs[0].wait(10)
    s = stats(lab)
    assert s["forwarded by the routing table"] > 10
    assert s["dropped: malformed"] == 0


def test_first_packet_waits_for_its_neighbour(lab):
    """The router has never talked to the server: the client's first SYN is
    held while the agent asks the kernel to resolve the server's address,
    then sent, instead of being dropped (which costs the client a second's
    retransmission)."""
    lab.nginx()
    wait_until(lambda: ":80 " in ns_run(lab.srv, "ss", "-ltnH").stdout, 5, what="nginx")
    lab.start_agent(lab.agent_config())
    r = ns_run(lab.rtr, "ip", "neigh", "show", "10.2.0.11")
    assert "lladdr" not in r.stdout, "the router already knows the server: " + r.stdout
    # the handshake's time as curl measures it: no process start-up in it
    r = ns_run(lab.cli, "curl", "-s", "--max-time", "5", "-w", "\n%{time_connect}",
               "http://10.2.0.11/")
    body, _, connect = r.stdout.rpartition("\n")
    took = float(connect)
    lab.procs[0].terminate()
    lab.procs[0].wait(10)
    s = stats(lab)
    assert body == "hello from srv\n", r.stdout
    assert took < 0.8, f"the first connection took {took:.2f} s: its SYN was not held ({s})"
    assert s["held while the next hop resolved"] >= 1
    assert s["sent once the next hop resolved"] >= 1


def test_router_with_busy_poll(lab):
    """The workers poll 50 us before sleeping: the same traffic still flows,
    and the agent stops cleanly."""
    lab.nginx()
    agent = lab.start_agent(lab.agent_config(extra="busy-poll-us: 50\n"))
    wait_until(lambda: ns_run(lab.cli, "ping", "-c", "1", "-W", "1", "10.2.0.11",
                              check=False).returncode == 0, 15, what="ping through the agent")
    r = ns_run(lab.cli, "curl", "-s", "--max-time", "10", "http://10.2.0.11/")
    assert r.stdout == "hello from srv\n"
    agent.terminate()
    assert agent.wait(10) == 0
    assert stats(lab)["forwarded by the routing table"] > 5


BURNER = """import time
end = time.monotonic() + float(__import__('sys').argv[1])
while time.monotonic() < end:
    pass
print(time.process_time())
"""


def test_busy_poll_yields_to_other_work(lab):
    """A worker polling with nothing to do gives its core to whoever has
    work there: while a CPU-bound process pinned to the worker's core runs,
    the agent takes almost none of it, where a plain spin would take half
    (a third with one more process there: other tests may run meanwhile)."""
    lab.nginx()
    agent = lab.start_agent(lab.agent_config(extra="busy-poll-us: 100000\n", workers=1))
    wait_until(lambda: ns_run(lab.cli, "ping", "-c", "1", "-W", "1", "10.2.0.11",
                              check=False).returncode == 0, 15, what="ping through the agent")
    # every thread of the agent on CPU 0; a packet every 20 ms keeps the
    # worker inside its 100 ms polling window the whole time
    subprocess.run(["taskset", "-a", "-p", "-c", "0", str(agent.pid)], check=True,
                   capture_output=True)
    pinger = subprocess.Popen(["ip", "netns", "exec", lab.cli, "ping", "-q", "-i", "0.02",
                               "-w", "20", "10.2.0.11"], stdout=subprocess.DEVNULL)

    def agent_share(seconds):
        t0, c0 = time.monotonic(), cpu_seconds(agent.pid)
        time.sleep(seconds)
        return (cpu_seconds(agent.pid) - c0) / (time.monotonic() - t0)

    try:
        time.sleep(0.3)
        # it polls: the core is its own when nobody else wants it (a few
        # tries: another test may have had work on that core for a moment)
        spun = 0.0
        for _ in range(10):
            spun = max(spun, agent_share(0.8))
            if spun > 0.5:
                break
        assert spun > 0.3, f"the worker used {spun:.0%} of its core: it is not polling"

        wall = 2.0
        burner = subprocess.Popen(["taskset", "-c", "0", "/usr/bin/python3", "-c", BURNER,
                                   str(wall)], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        during = agent_share(1.4)
        out, _ = burner.communicate(timeout=30)
        share = float(out) / wall
    finally:
        pinger.kill()
        pinger.wait()
    r = ns_run(lab.cli, "curl", "-s", "--max-time", "10", "http://10.2.0.11/")
    assert r.stdout == "hello from srv\n", "traffic stopped while the core was busy"
    print(f"busy poll: the agent alone used {spun:.0%} of its core; while a CPU-bound "
          f"process ran there, the agent {during:.0%} and the process {share:.0%}")
    agent.terminate()
    assert agent.wait(10) == 0
    assert during < 0.15, f"the polling agent took {during:.0%} of a core someone needed"
    assert share > 0.3, f"the process on the polling worker's core got {share:.0%} of it"
