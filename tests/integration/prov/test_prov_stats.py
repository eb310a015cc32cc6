# SPDX-License-Identifier: LGPL-2.1-or-later
"""GET /api/v1/statistics against real daemons, without root: a
loom-pkt-engine on the pcap back end (the golden tests' definitions,
tests/integration/engine/conftest.py) that has forwarded a known number of
packets and stays up, and a loom-svc-mgr with two virtual services. The
provisioner reads their shared-memory tables; a third configured table does
not exist and must be reported in its place. A customer admin sees only its
own service's ports and virtual service, no devices and no chains.
Everything (processes, /dev/shm segments, the directory) goes afterwards,
also on failure."""
import glob
import importlib.util
import os
import shutil
import tempfile
import types

import pytest
from scapy.all import IP, TCP, UDP, wrpcap

from conftest import Provisioner, _svc, wait_until

_GOLDEN = os.path.join(os.path.dirname(__file__), '..', 'engine', 'conftest.py')
_spec = importlib.util.spec_from_file_location('engine_golden', _GOLDEN)
_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_golden)

ENGINE = os.environ.get('LOOM_ENGINE', '')
SVC_MGR = os.environ.get('LOOM_SVC_MGR', '')
WEB_PACKETS, DNS_PACKETS = 7, 3


class Local(Provisioner):
    """Another daemon started the way the provisioner is (no namespace),
    its log in tmp, ready when the log says `ready`."""

    def __init__(self, tmp, name, argv, ready):  # pylint: disable=super-init-not-called
        _svc.Daemon.__init__(self, types.SimpleNamespace(tmp=tmp), name, None, argv, ready)


def engine_config(tmp, instance):
    """The golden tests' definitions on pcap ports that stay up after their input."""
    lines = [f'instance: {instance}', 'log-level: info', 'backend: pcap', 'probe-interval: 0ms',
             'interfaces:']
    for port in _golden.PORTS:
        role = 'client' if port == 'cli' else 'device'
        gw = f', gateway-mac: "{_golden.GW}"' if port == 'cli' else ''
        pin = f', pcap-in: {tmp}/{port}-in.pcap' if port == 'cli' else ''
        lines.append(f'  - {{name: {port}, role: {role}, mac: "{_golden.PORT_MAC[port]}"{gw}'
                     f'{pin}, pcap-out: {tmp}/{port}-out.pcap}}')
    return '\n'.join(lines) + _golden.DEFINITIONS


def client_frames():
    """WEB_PACKETS SYNs to web (W1:80) and DNS_PACKETS queries to dns (W3:53)."""
    frames = [_golden.frm('cli', _golden.GW) / IP(src=_golden.C1, dst=_golden.W1) /
              TCP(sport=40000 + i, dport=80, flags='S') for i in range(WEB_PACKETS)]
    frames += [_golden.frm('cli', _golden.GW) / IP(src=_golden.C1, dst=_golden.W3) /
               UDP(sport=50000 + i, dport=53) / b'q' for i in range(DNS_PACKETS)]
    for i, f in enumerate(frames):
        f.time = 1_700_000_000 + 0.001 * i
    return frames


MANAGER = '''instance: {instance}
host-name: stats-mgr
listen: [ "ipc://{tmp}/mgr.sock" ]
flows: 1024
services:
  - name: www
    address: 198.51.100.80
    port: 80
    backends:
      - {{ address: 10.2.0.11, weight: 1 }}
      - {{ address: 10.2.0.12, weight: 2 }}
  - name: api
    address: 198.51.100.81
    port: 443
    backends:
      - {{ address: 10.2.0.13, weight: 1 }}
'''


@pytest.fixture
def stack(request):
    if not (os.environ.get('LOOM_PROVISIONER') and ENGINE and SVC_MGR):
        pytest.skip('LOOM_PROVISIONER, LOOM_ENGINE and LOOM_SVC_MGR must be set')
    tmp = tempfile.mkdtemp(prefix='prov-stats-')
    tag = f'pstats{os.getpid()}'
    names = {'engine': f'{tag}e', 'manager': f'{tag}m', 'ghost': f'{tag}g'}
    daemons = []
    try:
        wrpcap(f'{tmp}/cli-in.pcap', client_frames(), linktype=1)
        with open(f'{tmp}/engine.yaml', 'w') as f:
            f.write(engine_config(tmp, names['engine']))
        with open(f'{tmp}/mgr.yaml', 'w') as f:
            f.write(MANAGER.format(instance=names['manager'], tmp=tmp))
        engine = Local(tmp, 'engine', [ENGINE, '-c', f'{tmp}/engine.yaml'], 'running:')
        manager = Local(tmp, 'manager', [SVC_MGR, '-c', f'{tmp}/mgr.yaml', '-l', 'info'],
                        'running: instance')
        prov = Provisioner(tmp, extra=(
            'statistics:\n'
            f'  - {{ kind: pkt-engine, instance: {names["engine"]} }}\n'
            f'  - {{ kind: svc-mgr, instance: {names["manager"]} }}\n'
            f'  - {{ kind: pkt-engine, instance: {names["ghost"]} }}\n'))
        for d in (engine, manager, prov):
            daemons.append(d)
            d.start()
        prov.token = prov.login()
        yield types.SimpleNamespace(prov=prov, names=names, daemons=daemons)
        for d in reversed(daemons):
            d.stop(timeout=10)
        logs = ''.join(d.log() for d in daemons)
        assert 'Sanitizer' not in logs and 'runtime error' not in logs, logs
    finally:
        for d in daemons:
            if d.running():
                d.kill()
        failed = getattr(request.node, 'rep_call', None)
        if failed is not None and failed.failed:
            for d in daemons:
                print(f'--- {d.name} log ---\n{d.log()[-4000:]}')
        for seg in glob.glob(f'/dev/shm/loom.{tag}*'):
            os.unlink(seg)
        shutil.rmtree(tmp, ignore_errors=True)


def model(prov):
    """Services web (acme) and dns (other) as the engine names them, virtual
    services www (acme) and api (other), and carol, acme's admin."""
    t = prov.token

    def post(res, body):
        status, doc = prov.call('POST', res, body, token=t)
        assert status == 201, (res, doc)
        return doc['id']
    ifc = post('interfaces', {'name': 'cli'})
    seg = post('segments', {'name': 'apps', 'interface': ifc, 'prefix': '10.2.0.0/24'})
    pool = post('ip-pools', {'name': 'public', 'interface': ifc, 'prefix': '10.9.0.0/24'})
    dpool = post('device-pools', {'name': 'srvs', 'function': 'server', 'brand': 'nginx'})
    app = post('devices', {'name': 'app', 'pool': dpool, 'segment': seg,
                           'mac': _golden.APP, 'address': '10.2.0.10', 'mode': 'loopback'})
    pkg = post('packages', {'name': 'plain', 'functions': ['server']})
    acme, other = post('customers', {'name': 'acme'}), post('customers', {'name': 'other'})
    for name, cust, addr, proto, port in (('web', acme, _golden.W1, 'tcp', 80),
                                          ('dns', other, _golden.W3, 'udp', 53)):
        post('services', {'name': name, 'customer': cust, 'package': pkg, 'pool': pool,
                          'address': addr, 'devices': [app],
                          'ports': [{'protocol': proto, 'port': port}]})
    for name, cust, addr in (('www', acme, '198.51.100.80'), ('api', other, '198.51.100.81')):
        post('virtual-services', {'name': name, 'customer': cust, 'address': addr,
                                  'protocol': 'tcp', 'port': 80,
                                  'backends': [{'address': '10.2.0.11', 'port': 80}]})
    post('users', {'name': 'carol', 'password': 'carols-password', 'role': 'customer-admin',
                   'customer': acme})


def statistics(prov, token):
    status, doc = prov.call('GET', 'statistics', token=token)
    assert status == 200, doc
    return doc


def test_statistics_show_real_counts_and_each_customer_its_own(stack):
    prov, names = stack.prov, stack.names

    def engine_counted():
        doc = statistics(prov, prov.token)
        ports = {(c['service'], c['port']): c for c in doc['engines'][0].get('chains', [])}
        return ports.get(('web', 80), {}).get('packets') == WEB_PACKETS and \
            ports.get(('dns', 53), {}).get('packets') == DNS_PACKETS
    wait_until(engine_counted, 10, step=0.2, what='the engine to count its input')

    doc = statistics(prov, prov.token)
    assert [e['instance'] for e in doc['engines']] == [names['engine'], names['ghost']]
    engine, ghost = doc['engines']
    assert engine['statistics'] is True
    web80 = next(c for c in engine['chains'] if c['service'] == 'web' and c['port'] == 80)
    assert web80['address'] == _golden.W1 and web80['chain'] == 'fw > app', web80
    assert web80['bytes'] >= WEB_PACKETS * 54, web80
    devices = {d['name']: d for d in engine['devices']}
    assert devices['fw']['state'] == 'up' and devices['fw']['alternate-in-place'] is False
    # every SYN went to fw first (and nowhere else: fw's replies never came)
    assert devices['fw']['packets'] == WEB_PACKETS, devices['fw']
    assert devices['app']['packets'] == DNS_PACKETS, devices['app']
    # a table that cannot be read is reported in its place, not as a failure
    assert ghost == {'instance': names['ghost'],
                     'error': 'no such table: is the daemon running with this instance name?'}
    [mgr] = doc['managers']
    assert mgr['instance'] == names['manager']
    svcs = {s['name']: s for s in mgr['services']}
    assert set(svcs) == {'www', 'api'}
    assert [(b['endpoint'], b['weight']) for b in svcs['www']['backends']] == \
        [('10.2.0.11:80', 1), ('10.2.0.12:80', 2)]
    for key in ('decided', 'answered', 'dropped', 'active_flows'):
        assert svcs['www'][key] == 0, svcs['www']

    # a customer admin: its own service's ports and virtual service only
    model(prov)
    carol = prov.login('carol', 'carols-password')
    own = statistics(prov, carol)
    engine, ghost = own['engines']
    assert 'devices' not in engine
    assert sorted((c['service'], c['port'], c['packets']) for c in engine['chains']) == \
        [('web', 21, 0), ('web', 80, WEB_PACKETS), ('web', 1025, 0)], engine['chains']
    assert all('chain' not in c for c in engine['chains'])
    assert 'error' in ghost
    assert [s['name'] for s in own['managers'][0]['services']] == ['www']

    # the provider still sees everything; the route's other rules as the API's
    assert len(statistics(prov, prov.token)['managers'][0]['services']) == 2
    status, doc = prov.call('GET', 'statistics')
    assert status == 401 and doc['error']['code'] == 'unauthorized'
    status, doc = prov.call('POST', 'statistics', {}, token=prov.token)
    assert status == 405, doc
    status, doc = prov.call('GET', 'statistics/1', token=prov.token)
    assert status == 404, doc


def test_no_statistics_configured_is_an_empty_document(prov):
    assert statistics(prov, prov.token) == {'engines': [], 'managers': []}


@pytest.mark.parametrize('entries, message', [
    ('[{ kind: pkt-engine, instance: "bad/name" }]',
     'statistics[0].instance: 1-31 of [A-Za-z0-9_-]'),
    ('[{ kind: svc-mgr, instance: m1 }, { kind: svc-mgr, instance: m1 }]',
     'statistics[1]: same as statistics[0]'),
    ('[{ kind: router, instance: r1 }]', 'statistics[0].kind: expected one of pkt-engine'),
])
def test_statistics_configuration_mistakes_are_refused(entries, message):
    if not os.environ.get('LOOM_PROVISIONER'):
        pytest.skip('LOOM_PROVISIONER must be set')
    with tempfile.NamedTemporaryFile('w', suffix='.yaml') as f:
        f.write(f'database: /nonexistent/prov.db\nstatistics: {entries}\n')
        f.flush()
        r = _svc.sh(os.environ['LOOM_PROVISIONER'], '-n', '-c', f.name, check=False)
    assert r.returncode != 0 and message in r.stdout + r.stderr, (r.stdout, r.stderr)
