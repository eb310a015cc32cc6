# SPDX-License-Identifier: LGPL-2.1-or-later
"""Trials (FEATURES.md C10) in the engine lab of test_lab.py (root needed).

The engine is provisioned over ipc and asked for trials with
tests/tools/loom-prov-trial, as the provisioner asks: a TCP handshake from
the engine's own address on the client side through the chain. Port 80 goes
fw -> web1 (loopback) and back, 8080 fw -> web2 (NAT, 8081); the report
names every hop, the firewall's counters move, web1 keeps no connection
after the trial (the engine's RST), an nftables drop of 8080 on fw fails
that trial naming fw, a missing service and a second trial while one runs
are refused with their reasons, and the client's own curl is unaffected.
"""
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from test_lab import ENGINE, W, elab, ns_run, wait_until  # noqa: F401 (elab: a fixture)

TRIAL = os.environ.get('LOOM_PROV_TRIAL') or (
    os.path.join(os.path.dirname(os.path.dirname(ENGINE)), 'tests', 'tools', 'loom-prov-trial')
    if ENGINE else '')


@pytest.fixture
def tlab(elab):
    """test_lab's lab, its engine provisioned over ipc (where trials are asked)."""
    if not os.access(TRIAL, os.X_OK) or not shutil.which('ss'):
        pytest.skip('needs loom-prov-trial (tests/tools) and ss')
    elab.prov = f'ipc://{elab.tmp}/prov.sock'
    elab.start_engine(top=f'provisioning: {{listen: "{elab.prov}"}}')
    return elab


def trial(lab, service, port=None, timeout_ms=5000):
    """(exit status, report or None) of one trial."""
    args = [TRIAL, '-t', str(timeout_ms)] + (['-p', str(port)] if port else [])
    r = subprocess.run(args + [lab.prov, service], capture_output=True, text=True,
                       timeout=timeout_ms / 1000 + 5)
    return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else None)


def lingering(lab, ns):
    """Connections of the trial's client (the engine's 10.1.0.1) in ns."""
    return ns_run(lab.ns[ns], 'ss', '-Htn', 'state', 'syn-recv', 'state', 'established',
                  'dst', '10.1.0.1').stdout.strip()


def hops(rep):
    return [(h['direction'], h['from'], h['to']) for h in rep['hops']]


def test_trial_of_port_80_goes_fw_web1_and_back(tlab):
    zmq = pytest.importorskip('zmq')
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b'{"event":"trial"')
    sub.connect(tlab.control)
    try:
        time.sleep(0.3)  # the subscription reaches the engine
        before = tlab.fw_counters()
        rc, rep = trial(tlab, 'shop', 80)
        assert rc == 0 and rep and rep['ok'], f'{rc} {rep}\n' + tlab.logs()
        assert hops(rep) == [('forward', 'client', 'fw'), ('forward', 'fw', 'web1'),
                             ('reply', 'web1', 'fw'), ('reply', 'fw', 'client')], rep
        assert rep['devices'] == [{'name': 'fw', 'forward': True, 'reply': True},
                                  {'name': 'web1', 'forward': True, 'reply': True}], rep
        assert (rep['service'], rep['address'], rep['port'], rep['protocol']) == \
            ('shop', W, 80, 'tcp'), rep
        assert rep['client'] == '10.1.0.1' and 32768 <= rep['client-port'] <= 60999, rep
        # for scale: the client's own connect through the same chain, as curl times it
        conn = ns_run(tlab.ns['cli'], 'curl', '-s', '-o', '/dev/null', '-m', '4', '-w',
                      '%{time_connect}', f'http://{W}/', check=False).stdout
        print(f"trial of shop:80 through fw and web1: SYN-ACK back in {rep['rtt-us']} us; "
              f"the client's curl connected in {float(conn or 0) * 1e6:.0f} us")
        us = [h['us'] for h in rep['hops']]
        assert us == sorted(us) and 0 < rep['rtt-us'] < 1000000, rep
        after = tlab.fw_counters()
        assert after[0] > before[0] and after[1] > before[1], \
            f'fw counters {before} -> {after}: the trial did not cross fw both ways'
        # the engine's RST: web1 forgets the half-open connection at once
        assert wait_until(lambda: not lingering(tlab, 'web1'), 2, what='web1 to forget'), \
            lingering(tlab, 'web1')
        if not sub.poll(2000):
            # a subscription still on its way misses what is published (PUB
            # keeps nothing): by now it is there, so a second trial is seen
            rc, rep = trial(tlab, 'shop', 80)
            assert rc == 0 and rep['ok'], rep
            assert sub.poll(2000), 'no trial event on the control socket'
        ev = json.loads(sub.recv())
        assert ev['event'] == 'trial' and ev['ok'] and ev['client-port'] == rep['client-port']
        r = tlab.curl(80)
        assert r.returncode == 0 and 'hello from web1' in r.stdout, 'curl broke after a trial'
    finally:
        sub.close()
        ctx.term()


def test_trial_of_translated_port_8080_to_nat_web2_while_curl_runs(tlab):
    done = {}

    def curl():
        done['r'] = tlab.curl(8080)
    t = threading.Thread(target=curl)
    t.start()
    rc, rep = trial(tlab, 'shop-alt', 8080)
    t.join(10)
    assert rc == 0 and rep['ok'], f'{rc} {rep}\n' + tlab.logs()
    assert hops(rep) == [('forward', 'client', 'fw'), ('forward', 'fw', 'web2'),
                         ('reply', 'web2', 'fw'), ('reply', 'fw', 'client')], rep
    assert [d['name'] for d in rep['devices']] == ['fw', 'web2'], rep
    assert done['r'].returncode == 0 and 'hello from web2' in done['r'].stdout, \
        'the client\'s curl broke during a trial'
    # port 0: the service's first port
    rc, rep = trial(tlab, 'shop')
    assert rc == 0 and rep['port'] == 80, rep


def test_a_missing_service_is_refused_with_its_reason(tlab):
    rc, rep = trial(tlab, 'nosuch', 80)
    assert rc == 1 and rep and not rep['ok'], rep
    assert rep['reason'] == 'no service named nosuch', rep
    assert rep['hops'] == [] and rep['devices'] == [], rep


def test_a_firewall_drop_fails_the_trial_naming_fw_and_one_at_a_time(tlab):
    ns_run(tlab.ns['fw'], 'nft', 'insert', 'rule', 'inet', 'loomfw', 'chk', 'tcp', 'dport',
           '8080', 'drop')
    slow = {}
    t = threading.Thread(target=lambda: slow.update(r=trial(tlab, 'shop-alt', 8080)))
    t.start()
    time.sleep(0.4)  # the first one runs (1000 ms without an answer)
    rc2, busy = trial(tlab, 'shop', 80)
    t.join(10)
    rc, rep = slow['r']
    assert rc == 1 and not rep['ok'], rep
    assert 'SYN went to fw and nothing came back' in rep['reason'], rep
    assert rep['devices'] == [{'name': 'fw', 'forward': False, 'reply': False},
                              {'name': 'web2', 'forward': False, 'reply': False}], rep
    assert hops(rep) == [('forward', 'client', 'fw')], rep
    assert rc2 == 1 and busy['reason'] == 'busy', busy
    # port 80 is not affected, by a trial or by curl
    rc, rep = trial(tlab, 'shop', 80)
    assert rc == 0 and rep['ok'], rep
    r = tlab.curl(80)
    assert r.returncode == 0 and 'hello from web1' in r.stdout, 'curl broke after trials'
    stats = tlab.stop_engine()
    assert stats['trial'] == 1, stats  # the one answer a worker took (never sent)
