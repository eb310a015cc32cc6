# SPDX-License-Identifier: LGPL-2.1-or-later
"""The issue's "done means 1" in network namespaces (root needed).

    cli 10.1.0.2 --- e0 [engine, AF_PACKET] e1 --- f0 [fw: Linux router, nftables] f1
                                          e2 --- switch --- f1
                                                     +----- ids (records copies)
                                                     +----- web1 (nginx, loopback: W on lo)
                                                     +----- web2 (nginx :8081, NAT 10.4.0.12)

Service W=10.9.0.1: port 80 through fw to web1 with copies to ids; port 8080
through fw to web2, translated to 8081. curl from cli must work on both
ports, fw's counters must see both directions, an nftables drop rule for
8080 must make that port fail while 80 still works, and ids must have
recorded copies. Everything is created with names unique to this process and
removed afterwards, also on failure.
"""
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

_NETNS = os.path.join(os.path.dirname(__file__), '..', 'netns', 'conftest.py')
_spec = importlib.util.spec_from_file_location('fwd_netns_harness', _NETNS)
_netns = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_netns)
sh, ns_run, wait_until = _netns.sh, _netns.ns_run, _netns.wait_until

ENGINE = os.environ.get('LOOM_ENGINE', '')
W = '10.9.0.1'
MAC = {'c0': '02:00:00:10:00:02', 'e0': '02:00:00:10:00:01', 'e1': '02:00:00:30:00:01',
       'f0': '02:00:00:30:00:02', 'e2': '02:00:00:40:00:01', 'f1': '02:00:00:40:00:02',
       'i0': '02:00:00:40:00:0d', 's1': '02:00:00:40:00:0b', 's2': '02:00:00:40:00:0c'}


class EngineLab:
    def __init__(self, tag, tmp):
        self.tmp = tmp
        self.ns = {n: f'eng{n}{tag}' for n in ('cli', 'eng', 'fw', 'sw', 'ids', 'web1', 'web2')}
        self.procs = []
        self.nginx_pids = []

    def veth(self, a_ns, a, b_ns, b):
        sh('ip', 'link', 'add', a, 'netns', self.ns[a_ns],
           'address', MAC.get(a, '02:00:00:ee:00:01'), 'type', 'veth', 'peer', 'name', b,
           'netns', self.ns[b_ns], 'address', MAC.get(b, '02:00:00:ee:00:02'))
        for ns, dev in ((a_ns, a), (b_ns, b)):
            ns_run(self.ns[ns], 'ip', 'link', 'set', dev, 'up')

    def addr(self, ns, dev, a):
        ns_run(self.ns[ns], 'ip', 'addr', 'add', a, 'dev', dev)

    def up(self):
        for ns in self.ns.values():
            sh('ip', 'netns', 'add', ns)
            ns_run(ns, 'ip', 'link', 'set', 'lo', 'up')
        self.veth('cli', 'c0', 'eng', 'e0')
        self.veth('eng', 'e1', 'fw', 'f0')
        ns_run(self.ns['sw'], 'ip', 'link', 'add', 'br0', 'type', 'bridge')
        ns_run(self.ns['sw'], 'ip', 'link', 'set', 'br0', 'up')
        for i, (ns, dev) in enumerate((('eng', 'e2'), ('fw', 'f1'), ('ids', 'i0'),
                                       ('web1', 's1'), ('web2', 's2'))):
            self.veth(ns, dev, 'sw', f'p{i}')
            ns_run(self.ns['sw'], 'ip', 'link', 'set', f'p{i}', 'master', 'br0')
        self.addr('cli', 'c0', '10.1.0.2/24')
        ns_run(self.ns['cli'], 'ip', 'route', 'add', 'default', 'via', '10.1.0.1')
        # the engine's kernel answers ARP for its addresses and forwards nothing
        self.addr('eng', 'e0', '10.1.0.1/24')
        self.addr('eng', 'e1', '10.3.0.1/24')
        self.addr('eng', 'e2', '10.4.0.1/24')
        ns_run(self.ns['eng'], 'sysctl', '-qw', 'net.ipv4.ip_forward=0')
        # the firewall: a real router between its arms
        self.addr('fw', 'f0', '10.3.0.2/24')
        self.addr('fw', 'f1', '10.4.0.2/24')
        ns_run(self.ns['fw'], 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
        ns_run(self.ns['fw'], 'ip', 'route', 'add', '10.9.0.0/24', 'via', '10.4.0.1')
        ns_run(self.ns['fw'], 'ip', 'route', 'add', '10.1.0.0/24', 'via', '10.3.0.1')
        rules = os.path.join(self.tmp, 'fw.nft')
        with open(rules, 'w') as f:
            f.write('table inet loomfw {\n chain chk {\n'
                    '  type filter hook forward priority 0; policy accept;\n'
                    '  tcp dport { 80, 8080 } counter\n'
                    '  tcp sport { 80, 8080, 8081 } counter\n }\n}\n')
        ns_run(self.ns['fw'], 'nft', '-f', rules)
        self.addr('ids', 'i0', '10.4.0.13/24')
        # web1: loopback mode, W on lo, not answering ARP for it
        self.addr('web1', 's1', '10.4.0.11/24')
        ns_run(self.ns['web1'], 'ip', 'addr', 'add', f'{W}/32', 'dev', 'lo')
        for k in ('net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2'):
            ns_run(self.ns['web1'], 'sysctl', '-qw', k)
        ns_run(self.ns['web1'], 'ip', 'route', 'add', 'default', 'via', '10.4.0.1')
        # web2: NAT mode, its own address
        self.addr('web2', 's2', '10.4.0.12/24')
        ns_run(self.ns['web2'], 'ip', 'route', 'add', 'default', 'via', '10.4.0.1')
        self.nginx('web1', 80, 'hello from web1')
        self.nginx('web2', 8081, 'hello from web2')

    def nginx(self, ns, port, text):
        d = os.path.join(self.tmp, ns)
        os.makedirs(os.path.join(d, 'www'))
        with open(os.path.join(d, 'www', 'index.html'), 'w') as f:
            f.write(text + '\n')
        conf = os.path.join(d, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write(f'daemon on; pid {d}/nginx.pid; error_log {d}/error.log; '
                    f'worker_processes 1; events {{ worker_connections 64; }} '
                    f'http {{ access_log {d}/access.log; client_body_temp_path {d}; '
                    f'proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; '
                    f'scgi_temp_path {d}; server {{ listen {port}; root {d}/www; }} }}\n')
        ns_run(self.ns[ns], 'nginx', '-c', conf)
        wait_until(lambda: os.path.exists(f'{d}/nginx.pid'), 5, what=f'nginx in {ns}')
        self.nginx_pids.append(f'{d}/nginx.pid')

    def start_engine(self):
        cfg = os.path.join(self.tmp, 'engine.yaml')
        with open(cfg, 'w') as f:
            f.write(f'''instance: {self.ns["eng"]}
backend: afpacket
workers: 1
ring-frames: 64
stats-file: {self.tmp}/stats
interfaces:
  - {{name: e0, role: client, gateway-mac: "{MAC['c0']}"}}
  - {{name: e1, role: device}}
  - {{name: e2, role: device}}
devices:
  - {{name: fw, function: firewall, mac: "{MAC['f0']}", interface: e1, out-interface: e2, out-mac: "{MAC['f1']}"}}
  - {{name: ids, function: ids, mac: "{MAC['i0']}", interface: e2}}
  - {{name: web1, function: server, mac: "{MAC['s1']}", interface: e2, mode: loopback}}
  - {{name: web2, function: server, mac: "{MAC['s2']}", interface: e2, mode: nat, address: 10.4.0.12}}
services:
  - name: shop
    address: {W}
    interface: e0
    ports: [{{port: 80}}]
    chain: [fw, web1]
    copies: [{{receiver: ids, at: web1}}]
  - name: shop-alt
    address: {W}
    interface: e0
    ports: [{{port: 8080, translate-to: 8081}}]
    chain: [fw, web2]
''')
        log = open(os.path.join(self.tmp, 'engine.log'), 'w')
        p = subprocess.Popen(['ip', 'netns', 'exec', self.ns['eng'], ENGINE, '-c', cfg,
                              '-l', 'info'], stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        wait_until(lambda: 'running' in self.logs() or p.poll() is not None, 5,
                   what='the engine to start')
        assert p.poll() is None, 'loom-pkt-engine exited at start:\n' + self.logs()
        return p

    def curl(self, port, timeout=4):
        return ns_run(self.ns['cli'], 'curl', '-s', '-m', str(timeout),
                      f'http://{W}:{port}/', check=False, timeout=timeout + 5)

    def fw_counters(self):
        out = ns_run(self.ns['fw'], 'nft', 'list', 'chain', 'inet', 'loomfw', 'chk').stdout
        return [int(x.split()[0]) for x in out.split('packets ')[1:]]

    logs = _netns.Lab.logs  # every *.log in self.tmp, tails

    def down(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for pid in self.nginx_pids:
            try:
                os.kill(int(open(pid).read()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        for ns in self.ns.values():
            sh('ip', 'netns', 'del', ns, check=False)
        for seg in (f'/dev/shm/loom.{self.ns["eng"]}.sequence',):
            if os.path.exists(seg):
                os.unlink(seg)


@pytest.fixture
def elab():
    if os.geteuid() != 0:
        pytest.skip('needs root for network namespaces')
    if not ENGINE:
        pytest.skip('LOOM_ENGINE not set')
    if not shutil.which('nginx') or not shutil.which('curl'):
        pytest.skip('needs nginx and curl')
    tmp = tempfile.mkdtemp(prefix='loom-engine-lab-')
    os.chmod(tmp, 0o755)  # nginx's workers run as www-data
    lab = EngineLab(os.getpid() % 100000, tmp)
    try:
        lab.up()
        yield lab
    except BaseException:
        print(lab.logs())
        raise
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


IDS_SNIFF = '''
import sys
from scapy.all import TCP, sniff
pkts = sniff(iface="i0", timeout=float(sys.argv[1]),
             lfilter=lambda p: TCP in p and 80 in (p[TCP].sport, p[TCP].dport))
print(len(pkts))
'''


def test_chain_through_firewall_ids_and_two_servers(elab):
    ids = subprocess.Popen(['ip', 'netns', 'exec', elab.ns['ids'], '/usr/bin/python3', '-c',
                            IDS_SNIFF, '12'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        time.sleep(1.0)  # the sniffer's socket is open
        elab.start_engine()
        r = elab.curl(80)
        assert r.returncode == 0 and 'hello from web1' in r.stdout, \
            f'curl :80 failed ({r.returncode}) {r.stderr}\n' + elab.logs()
        r = elab.curl(8080)
        assert r.returncode == 0 and 'hello from web2' in r.stdout, \
            f'curl :8080 (translated to web2:8081) failed ({r.returncode})\n' + elab.logs()
        dport, sport = elab.fw_counters()
        assert dport >= 2 and sport >= 2, f'firewall counters: to servers {dport}, back {sport}'

        # the firewall decides: a drop rule for 8080 makes that port fail, 80 still works
        ns_run(elab.ns['fw'], 'nft', 'insert', 'rule', 'inet', 'loomfw', 'chk', 'tcp',
               'dport', '8080', 'drop')
        assert elab.curl(8080, timeout=2).returncode != 0, 'port 8080 passed the drop rule'
        r = elab.curl(80)
        assert r.returncode == 0 and 'hello from web1' in r.stdout, 'port 80 broke'
    finally:
        try:
            out, _ = ids.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            ids.kill()
            out, _ = ids.communicate()
    copies = int(out.strip() or 0)
    assert copies >= 4, f'the IDS recorded {copies} copies of port-80 packets'
    elab.procs[-1].send_signal(signal.SIGTERM)
    assert elab.procs[-1].wait(5) == 0, 'the engine did not stop cleanly\n' + elab.logs()
    with open(os.path.join(elab.tmp, 'stats')) as f:
        stats = dict(line.split()[1:3] for line in f if line.startswith('counter'))
    assert int(stats['forward']) > 0 and int(stats['reply']) > 0
