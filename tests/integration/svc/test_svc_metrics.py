# SPDX-License-Identifier: LGPL-2.1-or-later
"""The manager's Prometheus endpoint (issue 7): curl of /metrics returns text
that Prometheus's own parser (python3-prometheus-client) reads, and whose
counters move with real traffic through the agent."""
from prometheus_client.parser import text_string_to_metric_families

from conftest import ns_run
from test_svc_lb import MGR_EXTRA, VIP, start_lab, web

PORT = 9191


def scrape(ns):
    r = ns_run(ns, "curl", "-s", "-D", "-", "--max-time", "3",
               f"http://127.0.0.1:{PORT}/metrics")
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
    import test_svc_lb
    monkeypatch.setattr(test_svc_lb, "MGR_EXTRA", MGR_EXTRA + f"metrics: 127.0.0.1:{PORT}\n")
    mgr, agent = start_lab(topo, web([1, 1, 1]))
    before = scrape(topo.rtr)
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
    r = ns_run(topo.rtr, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
               f"http://127.0.0.1:{PORT}/other", check=False)
    assert r.stdout == "404"
