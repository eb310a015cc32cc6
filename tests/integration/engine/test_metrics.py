# SPDX-License-Identifier: LGPL-2.1-or-later
"""The engine's Prometheus endpoint (issue 7): a scrape parses with
Prometheus's own parser (python3-prometheus-client) and its counters move
with real traffic through the chain of the engine lab (test_lab.py)."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from test_lab import elab, ns_run  # noqa: F401  (the lab fixture)

PORT = 9193


def scrape(lab):
    r = ns_run(lab.ns['eng'], 'curl', '-s', '--max-time', '3',
               f'http://127.0.0.1:{PORT}/metrics')
    out = {}
    for fam in text_string_to_metric_families(r.stdout):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert out, r.stdout[:300]
    return out


def test_metrics_move_with_the_chains_traffic(elab):  # noqa: F811
    elab.start_engine(top=f'metrics: 127.0.0.1:{PORT}')
    before = scrape(elab)
    shop = ('loom_engine_service_packets_total', (('port', '80'), ('service', 'shop')))
    fw = ('loom_engine_device_packets_total', (('device', 'fw'),))
    assert before[('loom_engine_device_up', (('device', 'fw'),))] == 1
    for _ in range(3):
        r = elab.curl(80)
        assert r.returncode == 0 and 'hello from web1' in r.stdout, elab.logs()
    after = scrape(elab)
    # three connections: at least SYN, data, FIN each way, counted per step
    assert after[shop] - before.get(shop, 0) >= 18, (before.get(shop), after[shop])
    assert after[fw] - before.get(fw, 0) >= 18
    rx = ('loom_engine_events_total', (('event', 'forward'),))
    if rx not in after:
        pytest.fail(f"no 'forward' event counter: {sorted(k for k in after if 'events' in k[0])}")
    assert after[rx] > before.get(rx, 0)
    elab.stop_engine()
