# SPDX-License-Identifier: LGPL-2.1-or-later
"""Harness of the golden-packet tests of loom-pkt-engine (docs/pkt-engine.md).

Like the agent's (tests/integration/fwd, docs/testing-fwd.md), whose frame
comparison and checksum check are imported here, not copied: a case gives
input frames per engine port, the frames expected out of each port in order,
and expected counters. run_case() writes the input pcaps and the engine's
configuration (the definitions below plus the case's own) into a temporary
directory, runs loom-pkt-engine on the pcap back end until its input is done
and returns the outputs and the counters; check_case() compares.
"""
import dataclasses
import glob
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from scapy.all import Ether, PcapReader, wrpcap

_FWD = os.path.join(os.path.dirname(__file__), '..', 'fwd', 'conftest.py')
_spec = importlib.util.spec_from_file_location('fwd_golden_harness', _FWD)
_fwd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fwd)
diff_packets = _fwd.diff_packets
bad_checksums = _fwd.bad_checksums
_SVC = os.path.join(os.path.dirname(__file__), '..', 'svc', 'conftest.py')
_spec = importlib.util.spec_from_file_location('loom_svc_helpers', _SVC)
_svc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_svc)

# The engine's ports: clients arrive on cli (through their router GW), the
# devices sit on dev (the firewall's outside arm) and dev2 (everything else).
PORTS = ('cli', 'dev', 'dev2')
PORT_MAC = {'cli': '02:00:00:00:01:01', 'dev': '02:00:00:00:02:01', 'dev2': '02:00:00:00:03:01'}
GW = '02:00:00:00:01:fe'          # the client side's router
FW0 = '02:00:00:00:0f:00'         # firewall, outside arm (on dev)
FW1 = '02:00:00:00:0f:01'         # firewall, inside arm (on dev2)
IDS = '02:00:00:00:0d:01'
APP = '02:00:00:00:0a:01'         # loopback server
APP2 = '02:00:00:00:0a:02'        # alias server
NATSRV = '02:00:00:00:0a:03'      # NAT server 10.2.0.20
STRANGER = '02:00:00:00:66:66'

W1, W2, W3 = '10.9.0.1', '10.9.0.2', '10.9.0.3'
C1, C_BAD = '10.1.0.5', '10.1.0.66'
NAT_ADDR = '10.2.0.20'
W6, C6, NAT6 = '2001:db8:9::1', '2001:db8:1::5', '2001:db8:2::20'

DEFINITIONS = f'''
devices:
  - {{name: fw, function: firewall, mac: "{FW0}", interface: dev, out-interface: dev2, out-mac: "{FW1}"}}
  - {{name: ids, function: ids, mac: "{IDS}", interface: dev2}}
  - {{name: app, function: server, mac: "{APP}", interface: dev2, mode: loopback}}
  - {{name: app2, function: server, mac: "{APP2}", interface: dev2, mode: alias}}
  - {{name: natsrv, function: server, mac: "{NATSRV}", interface: dev2, mode: nat, address: {NAT_ADDR}}}
  - {{name: natsrv6, function: server, mac: "{NATSRV}", interface: dev2, mode: nat, address: "{NAT6}"}}
services:
  - name: web
    address: {W1}
    interface: cli
    ports: [{{port: 80}}, {{port: 21, dynamic: 1025-1125}}]
    chain: [fw, app]
    copies: [{{receiver: ids, at: app}}]
  - name: web-tls
    address: {W1}
    interface: cli
    ports: [{{port: 443}}]
    chain: [fw, app2]
  - name: natted
    address: {W2}
    interface: cli
    ports: [{{port: 80, translate-to: 8080}}]
    chain: [natsrv]
    acl: [{{action: deny, client: {C_BAD}/32}}, {{action: permit, client: 10.1.0.0/24}}]
    acl-default: deny
    dscp: 46
  - name: dns
    address: {W3}
    protocol: udp
    interface: cli
    ports: [{{port: 53}}]
    chain: [app]
  - name: web6
    address: "{W6}"
    interface: cli
    ports: [{{port: 443, translate-to: 8443}}]
    chain: [fw, natsrv6]
    dscp: 10
'''

RUN_TIMEOUT = 20  # seconds


@dataclasses.dataclass
class Case:
    name: str
    desc: str
    inputs: list                  # [(port, frame)] or [(port, frame, time_s)]
    expect: dict                  # port -> [frame]
    counters: dict = dataclasses.field(default_factory=dict)
    config: dict = dataclasses.field(default_factory=dict)  # extra top-level keys
    partial: bool = False         # input as a veth offloading checksums delivers it
    reload: tuple = None          # (after_s, definitions): rewrite the file, SIGHUP after_s
                                  # after the engine is ready (its input's clock starts then)


def frm(port, src_mac):
    """The Ethernet header of a frame arriving on port from src_mac."""
    return Ether(src=src_mac, dst=PORT_MAC[port])


def out(frame, port, dst_mac):
    """frame as the engine sends it out of port to dst_mac: only the MACs change."""
    p = Ether(bytes(frame))
    p[Ether].src = PORT_MAC[port]
    p[Ether].dst = dst_mac
    return p


def _config(tmp, instance, case, definitions=DEFINITIONS):
    lines = [f'instance: {instance}', 'log-level: info', 'backend: pcap', 'exit-on-eof: true',
             f'stats-file: {tmp}/stats']
    lines += [f'{k}: {v}' for k, v in case.config.items()]
    lines.append('interfaces:')
    partial = ', csum-partial: true' if case.partial else ''
    for port in PORTS:
        role = 'client' if port == 'cli' else 'device'
        gw = f', gateway-mac: "{GW}"' if port == 'cli' else ''
        lines.append(f'  - {{name: {port}, role: {role}, mac: "{PORT_MAC[port]}"{gw}, '
                     f'pcap-in: {tmp}/{port}-in.pcap, pcap-out: {tmp}/{port}-out.pcap{partial}}}')
    return '\n'.join(lines) + definitions


def read_stats(path):
    """{'rx': n, ..., 'service web 80': (packets, bytes), 'device fw': (packets, bytes)}"""
    st = {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if w[0] in ('counter', 'pktio'):
                st[w[1]] = int(w[2])
            elif w[0] == 'service':
                st[f'service {w[1]} {w[4]}'] = (int(w[5]), int(w[6]))
            elif w[0] == 'device':
                st[f'device {w[1]}'] = (int(w[2]), int(w[3]))
    return st


_seq = [0]


def run_case(case):
    engine = os.environ.get('LOOM_ENGINE')
    if not engine:
        pytest.skip('LOOM_ENGINE must be set (meson test sets it)')
    _seq[0] += 1
    instance = f'engolden{os.getpid()}x{_seq[0]}'
    tmp = tempfile.mkdtemp(prefix='loom-engine-golden-')
    try:
        per_port = {p: [] for p in PORTS}
        for i, item in enumerate(case.inputs):
            port, frame = item[0], item[1].copy()
            # the back end merges ports by time
            frame.time = 1_700_000_000 + (item[2] if len(item) > 2 else 0.001 * i)
            per_port[port].append(frame)
        for port, frames in per_port.items():
            wrpcap(f'{tmp}/{port}-in.pcap', frames, linktype=1)
        with open(f'{tmp}/engine.yaml', 'w') as f:
            f.write(_config(tmp, instance, case))
        with open(f'{tmp}/engine.log', 'w') as log, \
                _svc.NotifySocket(f'{tmp}/notify') as ready:
            p = subprocess.Popen([engine, '-c', f'{tmp}/engine.yaml'], stdout=log,
                                 stderr=subprocess.STDOUT, env=ready.env)
            try:
                if case.reload:
                    # a SIGHUP before the engine handles it would end it, and
                    # its workers start the input's clock just before READY=1
                    ready.wait(p, RUN_TIMEOUT, 'loom-pkt-engine', lambda: _log(tmp))
                    time.sleep(case.reload[0])
                    with open(f'{tmp}/engine.yaml', 'w') as f:
                        f.write(_config(tmp, instance, case, case.reload[1]))
                    p.send_signal(signal.SIGHUP)
                rc = p.wait(RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise AssertionError('engine did not finish in time\n' + _log(tmp)) from None
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        assert rc == 0, f'engine exited with {rc}\n' + _log(tmp)
        outputs = {}
        for port in PORTS:
            path = f'{tmp}/{port}-out.pcap'
            outputs[port] = [Ether(bytes(x)) for x in PcapReader(path)] \
                if os.path.exists(path) and os.path.getsize(path) > 24 else []
        return outputs, read_stats(f'{tmp}/stats'), _log(tmp)
    finally:
        for f in glob.glob(f'/dev/shm/loom.{instance}.*'):
            os.unlink(f)
        shutil.rmtree(tmp, ignore_errors=True)


def _log(tmp):
    try:
        with open(f'{tmp}/engine.log') as f:
            return '--- engine ---\n' + f.read()[-6000:]
    except OSError:
        return ''


def check_case(case, outputs, stats, log):
    problems = []
    for port in PORTS:
        want, got = case.expect.get(port, []), outputs.get(port, [])
        if len(want) != len(got):
            problems.append(f'{port}: expected {len(want)} frames, got {len(got)}:\n    ' +
                            '\n    '.join(g.summary() for g in got))
        for i, (w, g) in enumerate(zip(want, got)):
            problems += [f'{port}[{i}] {d}' for d in diff_packets(w, g)]
        for i, g in enumerate(got):
            problems += [f'{port}[{i}] bad checksum: {b}' for b in bad_checksums(g)]
    for name, val in case.counters.items():
        if stats.get(name) != val:
            problems.append(f'counter {name}: expected {val}, got {stats.get(name)}')
    if problems:
        raise AssertionError(f'{case.name}: {case.desc}\n  ' + '\n  '.join(problems) + '\n' + log)
