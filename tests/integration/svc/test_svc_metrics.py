# SPDX-License-Identifier: LGPL-2.1-or-later
"""The manager's and the agent's Prometheus endpoints (issue 7): curl of
/metrics returns text that Prometheus's own parser (python3-prometheus-client)
reads, and whose counters move with real traffic through the agent."""
from prometheus_client.parser import text_string_to_metric_families

from conftest import ns_run
from test_svc_lb import MGR_EXTRA, VIP, start_lab, web

PORT = 9191
AGENT_PORT = 9192


def scrape(ns, port=PORT):
    r = ns_run(ns, "curl", "-s", "-D", "-", "--max-time", "3",
               f"http://127.0.0.1:{port}/metrics")
    # text mode: the header's CRLFs arrive as newlines
    head, _, body = r.stdout.partition("\n\n")
    assert " 200 " in head.split("\n")[0], head
    assert "text/plain; version=0.0.4" in head, head
    samples = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_metrics_parse_and_move_with_traffic(topo, monkeypatch):
    import conftest
    import test_svc_lb
    monkeypatch.setattr(test_svc_lb, "MGR_EXTRA", MGR_EXTRA + f"metrics: 127.0.0.1:{PORT}\n")
    agent_new = conftest.Topo.agent
    monkeypatch.setattr(conftest.Topo, "agent", lambda self, *a: agent_new(
        self, *a, extra=f"metrics: 127.0.0.1:{AGENT_PORT}\n"))
    mgr, agent = start_lab(topo, web([1, 1, 1]))
    before = scrape(topo.rtr)
    agent_before = scrape(topo.rtr, AGENT_PORT)
    decided = ("loom_svc_events_total", (("event", "decided"),))
    assert before[decided] == 0
    assert before[("loom_svc_agents", ())] == 1
    codes = topo.curl_many(topo.cli, f"http://{VIP}/", 9)
    assert codes == [200] * 9
    after = scrape(topo.rtr)
    assert after[decided] == 9
    assert after[("loom_svc_service_decided_total", (("service", "web"),))] == 9
    per_backend = [v for (n, labels), v in after.items()
                   if n == "loom_svc_backend_decided_total"]
    assert sorted(per_backend) == [3, 3, 3]
    up = [v for (n, _), v in after.items() if n == "loom_svc_backend_up"]
    assert up == [1, 1, 1]
    agent_after = scrape(topo.rtr, AGENT_PORT)
    rx = ("loom_fwd_packets_total", (("event", "rx"),))
    punts = ("loom_fwd_manager_messages_total", (("event", "punts"), ("manager", "0")))
    assert agent_after[rx] - agent_before[rx] >= 9 * 8, "nine connections both ways"
    # the first packet of each, and the interest matches (SYN-ACK, FINs)
    assert agent_after[punts] - agent_before[punts] >= 9
    assert agent_after[("loom_fwd_manager_connected", (("manager", "0"),))] == 1
    assert agent_after[("loom_fwd_fixed_affinities", ())] >= 2
    r = ns_run(topo.rtr, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
               f"http://127.0.0.1:{PORT}/other", check=False)
    assert r.stdout == "404"
