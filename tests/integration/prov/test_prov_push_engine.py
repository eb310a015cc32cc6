# SPDX-License-Identifier: LGPL-2.1-or-later
"""The push to a packet engine, end to end (issue 7, done means 2): a service
chain created only through loomctl reaches a running loom-pkt-engine over the
provisioning channel and carries real traffic (curl through the chain, the
firewall's nftables counters move); a change moves it to another firewall, a
rollback brings it back; replacing the device (a new box behind the same
device: every service that uses it is rendered again) moves the traffic to
the new box; a document the engine cannot steer is refused, says why, and the
traffic stays.

The engine lab of tests/integration/engine (imported, not copied): client,
engine, two firewalls (fw on e1, fw2 on e3) and nginx web1 in loopback mode
behind a switch on e2. The firewalls are made one-armed here (each routes
the service's packets and the replies back to the engine on the link it got
them on), except fw2 in the replica test, which has both arms in the model.
"""
import importlib.util
import json
import os

import pytest

from conftest import _svc, provisioned_engine, wait_until

_LAB = os.path.join(os.path.dirname(__file__), '..', 'engine', 'test_lab.py')
_spec = importlib.util.spec_from_file_location('engine_lab', _LAB)
_lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_lab)
elab = _lab.elab            # the lab's fixture: namespaces, nginx, removed afterwards
ns_run = _lab.ns_run

W = _lab.W
MAC = _lab.MAC


@pytest.fixture
def plab(elab):
    """The lab with the engine provisioned over ipc by a provisioner of its own."""
    if not (os.environ.get('LOOM_PROVISIONER') and _svc.LOOMCTL):
        pytest.skip('LOOM_PROVISIONER and LOOM_CTL must be set')
    with provisioned_engine(elab) as lab:
        yield lab


def loomctl(lab, *args):
    """loomctl's API commands as a user types them; the JSON reply."""
    r = _svc.sh(_svc.LOOMCTL, '--api', f'http://127.0.0.1:{lab.prov.port}', '--token',
                lab.prov.token, '--json', *args, check=False)
    assert r.returncode == 0, f'loomctl {" ".join(args)}: {r.stderr}'
    return json.loads(r.stdout) if r.stdout.strip() else None


def push_state(lab):
    return loomctl(lab, 'push')[0]


def served_through(lab, box, other):
    """Until a curl is answered by web1 and crossed box both ways, not other."""
    def once():
        a0, o0 = lab.fw_counters(box), lab.fw_counters(other)
        r = lab.curl(80, timeout=2)
        if r.returncode or 'hello from web1' not in r.stdout:
            return False
        a1, o1 = lab.fw_counters(box), lab.fw_counters(other)
        return a1[0] > a0[0] and a1[1] > a0[1] and o1 == o0
    wait_until(once, 20, step=0.3, what=f'curl through {box} (not {other})')


def model(lab):
    """The engine's interfaces, segments and devices, a package and the
    service shop (W:80 through fw to web1): only through loomctl."""
    ids = {}
    for name in ('e0', 'e1', 'e2', 'e3'):
        ids[name] = loomctl(lab, 'interfaces', 'create', f'name={name}')['id']
    for name, ifc, prefix in (('fw-link', 'e1', '10.3.0.0/24'), ('apps', 'e2', '10.4.0.0/24'),
                              ('fw2-link', 'e3', '10.5.0.0/24')):
        ids[name] = loomctl(lab, 'segments', 'create', f'name={name}',
                            f'interface={ids[ifc]}', f'prefix={prefix}')['id']
    ids['public'] = loomctl(lab, 'ip-pools', 'create', 'name=public',
                            f'interface={ids["e0"]}', 'prefix=10.9.0.0/24')['id']
    ids['fws'] = loomctl(lab, 'device-pools', 'create', 'name=fws', 'function=firewall',
                         'brand=nftables')['id']
    ids['srvs'] = loomctl(lab, 'device-pools', 'create', 'name=srvs', 'function=server',
                          'brand=nginx')['id']
    ids['fw'] = loomctl(lab, 'devices', 'create', 'name=fw', f'pool={ids["fws"]}',
                        f'segment={ids["fw-link"]}', f'mac={MAC["f0"]}',
                        'address=10.3.0.2', 'mode=alias')['id']
    ids['web1'] = loomctl(lab, 'devices', 'create', 'name=web1', f'pool={ids["srvs"]}',
                          f'segment={ids["apps"]}', f'mac={MAC["s1"]}',
                          'address=10.4.0.11', 'mode=loopback')['id']
    ids['pkg'] = loomctl(lab, 'packages', 'create', 'name=fw-web',
                         'functions=["firewall", "server"]')['id']
    ids['acme'] = loomctl(lab, 'customers', 'create', 'name=acme')['id']
    ids['shop'] = loomctl(lab, 'services', 'create', 'name=shop', f'customer={ids["acme"]}',
                          f'package={ids["pkg"]}', f'pool={ids["public"]}', f'address={W}',
                          f'devices=[{ids["fw"]}, {ids["web1"]}]',
                          'ports=[{"protocol": "tcp", "port": 80}]')['id']
    return ids


def test_a_chain_from_loomctl_carries_traffic_follows_a_rollback_and_a_replaced_device(plab):
    lab = plab
    ids = model(lab)
    first = loomctl(lab, 'version', 'show', 'current')['version']
    served_through(lab, 'fw', 'fw2')
    wait_until(lambda: push_state(lab)['acked'] == first, 5, what='the push acknowledged')
    assert "applied the provisioner's version" in lab.logs()
    chains = {c['service']: c for c in lab.loomctl('chain', 'list')['chains']}
    assert chains['shop']['chain'] == 'fw > web1' and chains['shop']['packets'] > 0, chains

    # a change: the service through fw2 (a device of its own)
    fw2 = loomctl(lab, 'devices', 'create', 'name=fw2', f'pool={ids["fws"]}',
                  f'segment={ids["fw2-link"]}', f'mac={MAC["g0"]}', 'address=10.5.0.2',
                  'mode=alias')['id']
    loomctl(lab, 'services', 'update', str(ids['shop']), f'devices=[{fw2}, {ids["web1"]}]')
    served_through(lab, 'fw2', 'fw')

    # a rollback restores the chain through fw, and the traffic follows
    back = loomctl(lab, 'version', 'rollback', str(first))['version']
    served_through(lab, 'fw', 'fw2')
    wait_until(lambda: push_state(lab)['acked'] == back, 5, what='the rollback acknowledged')

    # the device replaced: fw is now the box on e3; every service using it follows
    loomctl(lab, 'devices', 'update', str(ids['fw']), f'mac={MAC["g0"]}',
            f'segment={ids["fw2-link"]}', 'address=10.5.0.2')
    served_through(lab, 'fw2', 'fw')
    replaced = loomctl(lab, 'version', 'show', 'current')['version']
    wait_until(lambda: push_state(lab)['acked'] == replaced, 5, what='the replacement acked')

    # a document the engine cannot steer (a pool with no interface: where
    # would its clients arrive?) is refused with the reason; the traffic stays
    pool = loomctl(lab, 'ip-pools', 'create', 'name=nowhere', 'prefix=10.8.0.0/24')['id']
    good = loomctl(lab, 'version', 'show', 'current')['version']
    loomctl(lab, 'services', 'create', 'name=lost', f'customer={ids["acme"]}',
            f'package={ids["pkg"]}', f'pool={pool}', 'address=10.8.0.1',
            f'devices=[{ids["fw"]}, {ids["web1"]}]', 'ports=[{"protocol": "tcp", "port": 80}]')
    bad = loomctl(lab, 'version', 'show', 'current')['version']
    wait_until(lambda: push_state(lab)['refused'] == bad, 5, what='the refusal recorded')
    state = push_state(lab)
    assert state['acked'] == good and not state['in_step'], state
    assert "services[1]" in state['message'] and 'interface' in state['message'], state
    served_through(lab, 'fw2', 'fw')
    stats = lab.stop_engine()
    assert stats['forward'] > 0 and stats['reply'] > 0


def try_service(lab, sid):
    """loomctl services try: (exit status, the trial as the API shows it)."""
    r = _svc.sh(_svc.LOOMCTL, '--api', f'http://127.0.0.1:{lab.prov.port}', '--token',
                lab.prov.token, '--json', 'services', 'try', str(sid), check=False)
    assert r.returncode in (0, 3), f'loomctl services try: {r.returncode} {r.stderr}'
    return r.returncode, json.loads(r.stdout)


def test_a_replica_through_a_new_firewall_is_tried_then_cut_over(plab):
    """Feature C10 end to end: the service replicated under a new address,
    the replica given a new firewall, validated by a handshake through each
    of its devices, then the original cut over to it at once; a rollback
    takes it back. A trial through a firewall that drops the port fails and
    names it; a cut-over to a replica changed since its trial is refused."""
    lab = plab
    ids = model(lab)
    served_through(lab, 'fw', 'fw2')
    # fw2 with both arms, as the lab built it: in on e3, back out on the switch (e2)
    ns_run(lab.ns['fw2'], 'ip', 'route', 'replace', '10.9.0.0/24', 'via', '10.4.0.1')
    fw2 = loomctl(lab, 'devices', 'create', 'name=fw2', f'pool={ids["fws"]}',
                  f'segment={ids["fw2-link"]}', f'mac={MAC["g0"]}', 'address=10.5.0.2',
                  'mode=alias', f'out_segment={ids["apps"]}', f'out_mac={MAC["g1"]}')['id']
    w2 = '10.9.0.2'
    ns_run(lab.ns['web1'], 'ip', 'addr', 'add', f'{w2}/32', 'dev', 'lo')
    rep = loomctl(lab, 'services', 'replicate', str(ids['shop']), 'name=shop-v2',
                  f'address={w2}')
    assert rep['devices'] == [ids['fw'], ids['web1']] and rep['address'] == w2
    loomctl(lab, 'services', 'update', str(rep['id']), f'devices=[{fw2}, {ids["web1"]}]')

    # the trial: a SYN from the engine through fw2 to web1, the SYN-ACK back
    before = lab.fw_counters('fw2')
    status, trial = try_service(lab, rep['id'])
    assert status == 0 and trial['state'] == 'passed', trial
    report = trial['report']['engines']['eng']
    assert report['ok'] and report['address'] == w2 and report['port'] == 80, report
    assert [(d['name'], d['forward'], d['reply']) for d in report['devices']] == \
        [('fw2', True, True), ('web1', True, True)], report
    assert [(h['direction'], h['from'], h['to']) for h in report['hops']] == [
        ('forward', 'client', 'fw2'), ('forward', 'fw2', 'web1'),
        ('reply', 'web1', 'fw2'), ('reply', 'fw2', 'client')], report
    after = lab.fw_counters('fw2')
    assert after[0] > before[0] and after[1] > before[1], (before, after)
    # the customer can try the replica's address too, and the original is untouched
    r = ns_run(lab.ns['cli'], 'curl', '-s', '-m', '4', f'http://{w2}/', check=False)
    assert 'hello from web1' in r.stdout, r
    served_through(lab, 'fw', 'fw2')

    # a firewall that drops the port: the trial fails and says where it stopped
    ns_run(lab.ns['fw'], 'nft', 'insert', 'rule', 'inet', 'loomfw', 'chk', 'tcp', 'dport', '80',
           'drop')
    status, bad = try_service(lab, ids['shop'])
    assert status == 3 and bad['state'] == 'failed', bad
    failed = bad['report']['engines']['eng']
    assert not failed['ok'] and 'fw' in failed['reason'], failed
    assert [d['forward'] for d in failed['devices']] == [False, False], failed
    ns_run(lab.ns['fw'], 'nft', 'flush', 'chain', 'inet', 'loomfw', 'chk')
    ns_run(lab.ns['fw'], 'nft', 'add', 'rule', 'inet', 'loomfw', 'chk', 'tcp', 'dport',
           '{ 80, 8080 }', 'counter')
    ns_run(lab.ns['fw'], 'nft', 'add', 'rule', 'inet', 'loomfw', 'chk', 'tcp', 'sport',
           '{ 80, 8080, 8081 }', 'counter')

    # flash cut-over: the original address through the replica's chain at once
    cut_from = loomctl(lab, 'version', 'show', 'current')['version']
    cut = loomctl(lab, 'services', 'cutover', str(ids['shop']), f'from={rep["id"]}')
    assert cut['devices'] == [fw2, ids['web1']] and cut['address'] == W, cut
    served_through(lab, 'fw2', 'fw')
    # a replica changed after its trial is not cut over to
    loomctl(lab, 'services', 'update', str(rep['id']), f'devices=[{ids["fw"]}, {ids["web1"]}]')
    r = _svc.sh(_svc.LOOMCTL, '--api', f'http://127.0.0.1:{lab.prov.port}', '--token',
                lab.prov.token, 'services', 'cutover', str(ids['shop']), f'from={rep["id"]}',
                check=False)
    assert r.returncode != 0 and 'changed since its trial' in r.stderr, r
    # and a rollback to before the cut-over takes the traffic back
    loomctl(lab, 'version', 'rollback', str(cut_from))
    served_through(lab, 'fw', 'fw2')
    stats = lab.stop_engine()
    assert stats.get('trial', 0) >= 1, stats
