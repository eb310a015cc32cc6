# SPDX-License-Identifier: LGPL-2.1-or-later
"""The provisioner's Prometheus endpoint (issue 7): GET /metrics on the API's
port is text Prometheus's own parser reads, and its figures follow what the
API did."""
import http.client

from prometheus_client.parser import text_string_to_metric_families


def scrape(prov):
    c = http.client.HTTPConnection("127.0.0.1", prov.port, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read().decode()
        assert r.status == 200, body
        assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    finally:
        c.close()
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_follow_the_api(prov):
    before = scrape(prov)
    ok = ("loom_prov_requests_total", (("class", "2xx"),))
    bad = ("loom_prov_requests_total", (("class", "4xx"),))
    token = prov.login()
    assert prov.call("POST", "interfaces", {"name": "eth7"}, token)[0] == 201
    assert prov.call("GET", "interfaces/999999", None, token)[0] == 404
    after = scrape(prov)
    assert after[ok] - before[ok] == 2, (before[ok], after[ok])
    assert after[bad] - before[bad] == 1
    assert after[("loom_prov_version", ())] == before[("loom_prov_version", ())] + 1
    status, _, _ = prov.raw("POST", "/metrics", b"")
    assert status == 405
