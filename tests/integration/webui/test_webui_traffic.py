# SPDX-License-Identifier: LGPL-2.1-or-later
"""Issue 7, done means 3: a chain built in the web UI carries traffic, seen in
the live statistics (ui_traffic.mjs, Playwright driving Debian's Chromium).

The engine lab of tests/integration/engine (imported, not copied: client,
loom-pkt-engine, the firewalls, nginx web1 in loopback mode, in namespaces
of this process's own names, removed afterwards also on failure) with the
engine provisioned over ipc by a loom-provisioner that also reads the
engine's shared-memory tables for GET /statistics. The interfaces, segments,
IP pool and customer are made through the API (the engine's own wiring);
the devices, package and service in the browser. The firewall is one-armed,
as in tests/integration/prov/test_prov_push_engine.py: the model has no
second arm for a device. Needs root, Chromium and Node; skips without."""
import importlib.util
import json
import os

import pytest

from conftest import ADMIN_PASSWORD, CHROMIUM, _prov, run_ui

_LAB = os.path.join(os.path.dirname(__file__), '..', 'engine', 'test_lab.py')
_spec = importlib.util.spec_from_file_location('engine_lab', _LAB)
_lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_lab)
elab = _lab.elab  # the lab's fixture: namespaces, nginx, removed afterwards


@pytest.fixture
def tlab(browser, elab, request):
    """The lab's engine, provisioned and read by a provisioner of its own."""
    if not _prov.PROVISIONER:
        pytest.skip('LOOM_PROVISIONER must be set')
    stats = f'statistics:\n  - {{ kind: pkt-engine, instance: {elab.ns["eng"]} }}\n'
    with _prov.provisioned_engine(elab, stats) as lab:
        try:
            yield lab
        finally:
            failed = getattr(request.node, 'rep_call', None)
            if failed is not None and failed.failed:
                print(f'--- loom-provisioner log ---\n{lab.prov.log()}\n{lab.logs()}')


def wiring(prov):
    """What the engine's own configuration fixes: its interfaces (by name),
    the device segments on e1 (fw-link) and e2 (apps), the service IP pool
    whose clients arrive on e0, and the customer."""
    def post(res, body):
        status, doc = prov.call('POST', res, body, token=prov.token)
        assert status == 201, (res, doc)
        return doc['id']
    ifc = {name: post('interfaces', {'name': name}) for name in ('e0', 'e1', 'e2', 'e3')}
    post('segments', {'name': 'fw-link', 'interface': ifc['e1'], 'prefix': '10.3.0.0/24'})
    post('segments', {'name': 'apps', 'interface': ifc['e2'], 'prefix': '10.4.0.0/24'})
    post('ip-pools', {'name': 'public', 'interface': ifc['e0'], 'prefix': '10.9.0.0/24'})
    post('customers', {'name': 'acme'})


def test_a_chain_built_in_the_browser_carries_traffic_in_the_live_statistics(tlab):
    prov = tlab.prov
    wiring(prov)
    out = os.environ.get('WEBUI_OUTPUT', tlab.tmp)
    lab = {'client_ns': tlab.ns['cli'], 'engine': tlab.ns['eng'], 'address': _lab.W,
           'fw_mac': _lab.MAC['f0'], 'web1_mac': _lab.MAC['s1']}
    run_ui('ui_traffic.mjs', {'WEBUI_URL': f'http://127.0.0.1:{prov.port}/',
                              'WEBUI_PASSWORD': ADMIN_PASSWORD, 'WEBUI_OUTPUT': out,
                              'WEBUI_CHROMIUM': CHROMIUM, 'WEBUI_LAB': json.dumps(lab)},
           timeout=120)
    assert os.path.getsize(os.path.join(out, 'webui-traffic.png')) > 1000

    # what the page showed is what the engine's tables say (loomctl reads them too)
    status, doc = prov.call('GET', 'statistics', token=prov.token)
    assert status == 200, doc
    [engine] = doc['engines']
    [port] = [c for c in engine['chains'] if c['service'] == 'shop']
    [ctl] = [c for c in tlab.loomctl('chain', 'list')['chains'] if c['service'] == 'shop']
    assert port['chain'] == ctl['chain'] == 'fw > web1', (port, ctl)
    assert 0 < port['packets'] <= ctl['packets'], (port, ctl)
    dport, sport = tlab.fw_counters()
    assert dport >= 5 and sport >= 5, f'the firewall forwarded {dport} packets to web1, {sport} back'
