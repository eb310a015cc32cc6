# SPDX-License-Identifier: LGPL-2.1-or-later
"""The push, end to end: a virtual service created only through loomctl (the API)
reaches a running loom-svc-mgr over the provisioning channel and carries real
connections through a loom-fwd-agent; a change moves the traffic, a rollback
moves it back; a provisioner SIGKILLed while a committed change was not yet
acknowledged pushes it after its restart. The svc tests' lab (client, router
with the agent and the manager, nginx servers) in namespaces of our own."""
import json
import os
import shutil
import tempfile

import pytest

from conftest import Provisioner, _svc, wait_until

VIP = "10.9.0.1"


def web(server):
    """The virtual service, served by srvN alone."""
    return {"name": "web", "address": VIP, "protocol": "tcp", "port": 80,
            "health": "none", "backends": [{"address": f"10.2.0.1{server}", "port": 80}]}


@pytest.fixture
def lab(request):
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if not (_svc.AGENT and _svc.SVC_MGR and _svc.LOOMCTL and os.environ.get("LOOM_PROVISIONER")):
        pytest.skip("LOOM_AGENT, LOOM_SVC_MGR, LOOM_CTL and LOOM_PROVISIONER must be set")
    tmp = tempfile.mkdtemp(prefix="prov2-push-")
    os.chmod(tmp, 0o755)
    topo = _svc.Topo(f"prov2{os.getpid() % 10000}", tmp)
    try:
        topo.lb_lab(servers=2)
        sock = f"ipc://{tmp}/mgr-prov.sock"
        topo.mgr = topo.manager("mgr", topo.rtr, "  []\n",
                                f"address: 10.2.0.1\nprovisioning:\n  listen: \"{sock}\"\n")
        topo.agent("agent", topo.rtr, ["a0", "br0"], [topo.mgr])
        topo.prov = Provisioner(tmp, extra=f"push-retry: 200ms\ntargets:\n"
                                f"  - {{ name: mgr, kind: svc-mgr, endpoint: \"{sock}\" }}\n")
        topo.daemons.append(topo.prov)
        topo.prov.start()
        topo.token = topo.prov.login()
        yield topo
        topo.prov.stop(timeout=10)
        log = topo.prov.log() + topo.mgr.log()
        assert "Sanitizer" not in log and "runtime error" not in log, log
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed:
            print(topo.logs())
        topo.down()
        shutil.rmtree(tmp, ignore_errors=True)


def call(lab, method, path, body=None):
    status, doc = lab.prov.call(method, path, body, token=lab.token)
    assert status < 300, (method, path, status, doc)
    return doc


def served_by(lab, server):
    """Until every one of 6 new connections is answered by srvN."""
    def all_there():
        codes, body = zip(*(lab.curl(lab.cli, f"http://{VIP}/", timeout=3) for _ in range(6)))
        return set(codes) == {0} and all(b == f"hello from srv{server}\n" for b in body)
    wait_until(all_there, 15, step=0.3, what=f"traffic served by srv{server}")


def acked(lab):
    return call(lab, "GET", "push")[0]["acked"]


def loomctl(lab, *args):
    """loomctl's API commands as a user would type them; the JSON reply."""
    r = _svc.sh(_svc.LOOMCTL, "--api", f"http://127.0.0.1:{lab.prov.port}", "--token",
                lab.token, "--json", *args, check=False)
    assert r.returncode == 0, f"loomctl {' '.join(args)}: {r.stderr}"
    return json.loads(r.stdout)


def test_a_virtual_service_from_loomctl_carries_traffic_and_follows_a_rollback(lab):
    vs = loomctl(lab, "virtual-services", "create", "name=web", f"address={VIP}",
                 "protocol=tcp", "port=80", "health=none",
                 'backends=[{"address": "10.2.0.11", "port": 80}]')
    first = loomctl(lab, "version", "show", "current")["version"]
    served_by(lab, 1)
    wait_until(lambda: acked(lab) == first, 5, what="the acknowledgement recorded")
    assert "applied the provisioner's version" in lab.mgr.log()
    # a change moves the traffic
    call(lab, "PUT", f"virtual-services/{vs['id']}", web(2))
    served_by(lab, 2)
    # a rollback restores the previous definitions, and the traffic follows
    back = loomctl(lab, "version", "rollback", str(first))
    served_by(lab, 1)
    wait_until(lambda: acked(lab) == back["version"], 5, what="the rollback acknowledged")
    state = call(lab, "GET", "push")[0]
    assert state["in_step"] and state["refused"] is None, state


def test_a_refused_document_keeps_the_running_services_and_says_why(lab):
    call(lab, "POST", "virtual-services", web(1))
    served_by(lab, 1)
    good = acked(lab)
    # valid for the provisioner, refused by the manager: two services named edge
    call(lab, "POST", "nat-pools", {"name": "web", "prefix": "198.51.100.0/28"})
    bad = call(lab, "GET", "versions/current")["version"]
    wait_until(lambda: call(lab, "GET", "push")[0]["refused"] == bad, 5,
               what="the refusal recorded")
    state = call(lab, "GET", "push")[0]
    assert state["acked"] == good and not state["in_step"], state
    assert "same name as services[0]" in state["message"], state
    served_by(lab, 1)


def test_a_provisioner_killed_before_the_ack_pushes_after_its_restart(lab):
    vs = call(lab, "POST", "virtual-services", web(1))
    served_by(lab, 1)
    first = call(lab, "GET", "versions/current")["version"]
    wait_until(lambda: acked(lab) == first, 5, what="the first push acknowledged")
    # the manager is away: the next change is committed but cannot be acknowledged
    lab.mgr.stop()
    call(lab, "PUT", f"virtual-services/{vs['id']}", web(2))
    pending = call(lab, "GET", "versions/current")["version"]
    assert acked(lab) == first
    lab.prov.kill()
    # the manager comes back first, with none of the provisioner's services
    lab.mgr.start()
    rc, _ = lab.curl(lab.cli, f"http://{VIP}/", timeout=2)
    assert rc != 0, "nothing serves the VIP before the push"
    lab.prov.start()
    lab.token = lab.prov.login()
    served_by(lab, 2)
    wait_until(lambda: acked(lab) == pending, 5, what="the re-push acknowledged")
    assert [v["version"] for v in call(lab, "GET", "versions")][0] == pending
