# SPDX-License-Identifier: LGPL-2.1-or-later
"""A virtual address served through loom-fwd-agent by a scripted manager
(loom-mgr-script, built on the project's codec): wildcards for both
directions, the first packet of each connection punted and returned with
fixed affinities that translate it. Then the agent is killed with SIGKILL in
the middle of a transfer and restarted: it takes its tables over and the
established connection completes without a new punt."""
import hashlib
import os
import signal
import subprocess

from conftest import ns_run, wait_until

SCRIPT = os.environ.get("LOOM_MGR_SCRIPT", "")
VIP = "10.9.0.80"


def manager(lab, connections, extra_wait_ms=20000):
    """A script answering `connections` first packets to VIP:80."""
    lines = ["hello",
             f"wildcard proto=tcp dst={VIP}/32 dport=80 ttl=300",
             "wildcard proto=tcp src=10.2.0.11/32 sport=80 ttl=300",
             "heartbeat"]
    for _ in range(connections):
        lines += [f"expect match timeout={extra_wait_ms}",
                  # the reply direction first, so the server's SYN-ACK finds it
                  f"fixed key=last-reverse src=10.2.0.11 nat.src={VIP} ttl=300",
                  "fixed key=last nat.dst=10.2.0.11 ttl=300 packet=last"]
    path = os.path.join(lab.tmp, "mgr.script")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    endpoint = f"ipc://{lab.tmp}/mgr.sock"
    log = open(os.path.join(lab.tmp, "mgr.log"), "w")
    p = subprocess.Popen([SCRIPT, endpoint, path], stdout=log, stderr=subprocess.STDOUT)
    lab.procs.append(p)
    return endpoint, p


def stats(lab):
    out = {}
    with open(f"{lab.tmp}/stats") as f:
        for line in f:
            if "#" in line:
                value = int(line.split("#", 1)[0].split()[1])
                out[line.split("#", 1)[1].strip()] = value
    return out


def test_vip_through_nat(lab):
    if not SCRIPT:
        import pytest
        pytest.skip("LOOM_MGR_SCRIPT not set")
    lab.nginx()
    endpoint, mgr = manager(lab, 2)
    agent = lab.start_agent(lab.agent_config([endpoint]))
    lab.wait_managers_heard(agent)
    for _ in range(2):
        r = ns_run(lab.cli, "curl", "-s", "--max-time", "15", f"http://{VIP}/")
        assert r.stdout == "hello from srv\n", r.stderr
    # nginx saw the client's own address: only the destination was translated
    log = lab.access_log(lines=2).strip().splitlines()
    assert len(log) == 2 and all(line.startswith("10.1.0.2 ") for line in log), log
    agent.terminate()
    agent.wait(10)
    # the script ends when the agent hangs up; it fails on anything unexpected
    assert mgr.wait(10) == 0, "the scripted manager's expectations failed: " + lab.logs()
    s = stats(lab)
    assert s["packets translated"] > 10
    assert s["packets returned by managers and processed"] == 2
    assert s["fixed affinity hits"] > 10


def test_restart_keeps_established_flows(lab):
    if not SCRIPT:
        import pytest
        pytest.skip("LOOM_MGR_SCRIPT not set")
    lab.nginx()
    blob = os.urandom(24 << 20)
    with open(os.path.join(lab.nginx_dir, "www", "blob"), "wb") as f:
        f.write(blob)
    endpoint, mgr = manager(lab, 1)
    config = lab.agent_config([endpoint])
    first = lab.start_agent(config)
    lab.wait_managers_heard(first)

    out = os.path.join(lab.tmp, "blob.out")
    curl = subprocess.Popen(["ip", "netns", "exec", lab.cli, "curl", "-s", "--max-time", "60",
                             "--limit-rate", "6M", "-o", out, f"http://{VIP}/blob"])
    # in the middle of the transfer: kill the agent, start a new one
    wait_until(lambda: os.path.exists(out) and os.path.getsize(out) > (4 << 20), 20,
               what="the transfer to start")
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    killed_at = os.path.getsize(out)
    second = lab.start_agent(config)
    assert curl.wait(60) == 0, "the transfer broke across the restart"
    assert killed_at < len(blob)
    assert hashlib.sha256(open(out, "rb").read()).digest() == hashlib.sha256(blob).digest()
    second.terminate()
    second.wait(10)
    assert mgr.wait(10) == 0, "the scripted manager's expectations failed: " + lab.logs()
    s = stats(lab)
    # the restarted agent carried the flow with the affinities it took over
    assert s["packets returned by managers and processed"] == 0
    assert s["fixed affinity hits"] > 100
