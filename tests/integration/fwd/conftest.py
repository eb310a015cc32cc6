# SPDX-License-Identifier: LGPL-2.1-or-later
"""Harness of the golden-packet tests of loom-fwd-agent (docs/testing-fwd.md).

A case gives input packets (port, scapy frame, optional time), one script per
scripted manager, the expected output frames per port and expected counters.
run_case() writes the pcaps and the agent's configuration into a temporary
directory, starts the managers (bound before the agent starts), runs the
agent with the pcap back end until its input is done, and returns what came
out; check_case() compares it with the expectation field by field and checks
every checksum of every output packet with scapy (an independent
implementation).
"""
import dataclasses
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
from scapy.all import (ICMP, IP, TCP, UDP, Ether, IPerror, IPv6, PcapReader,
                       Raw, defragment, wrpcap)
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, _ICMPv6

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))

# The agent's ports (pcap back end) and the next hops behind them.
CLI_MAC = '02:00:00:00:01:01'     # the agent on the client side
CLI_GW = '02:00:00:00:01:02'      # the client side's router
SRV_MAC = '02:00:00:00:02:01'     # the agent on the server side
SRV_GW = '02:00:00:00:02:11'      # the server LAN's next hop
VIP_GW = '02:00:00:00:02:12'      # where the virtual addresses are routed normally

ROUTES = [
    ('10.2.0.0/24', 'srv', SRV_GW),
    ('10.1.0.0/24', 'cli', CLI_GW),
    ('10.9.0.0/24', 'srv', VIP_GW),
    ('2001:db8:2::/64', 'srv', SRV_GW),
    ('2001:db8:1::/64', 'cli', CLI_GW),
    ('2001:db8:9::/64', 'srv', VIP_GW),
]

# Where each port's frames come from (input) and go to (output).
IN_L2 = {'cli': dict(src=CLI_GW, dst=CLI_MAC), 'srv': dict(src=SRV_GW, dst=SRV_MAC)}
OUT_L2 = {'cli': dict(src=CLI_MAC, dst=CLI_GW), 'srv': dict(src=SRV_MAC, dst=SRV_GW)}

RUN_TIMEOUT = int(os.environ.get("GOLDEN_RUN_TIMEOUT", "20"))      # seconds, the agent
MGR_TIMEOUT = 10      # seconds, a manager after the agent exited


def _counter_names():
    """Counter names in declaration order, from the X-macro lists."""
    out = {}
    for path, prefix in (('fwd-agent/src/fwd_dp.h', 'FWD_C_'),
                         ('fwd-agent/src/fwd_aff.h', 'FWD_UPD_'),
                         ('fwd-agent/src/fwd_mgr.h', 'FWD_MGR_')):
        with open(os.path.join(REPO, path)) as f:
            names = re.findall(r'X\((' + prefix + r'\w+),', f.read())
        out[prefix] = [n for n in names if not n.endswith('__COUNT')]
    return out


COUNTERS = _counter_names()


def read_stats(path):
    """{'FWD_C_RX': n, ..., 'FWD_UPD_APPLIED': n, 'mgr0.FWD_MGR_PUNTS': n}"""
    st = {}
    with open(path) as f:
        for line in f:
            fw = re.match(r'forward (\S+) (\d+) (\d+)', line)
            if fw:  # the information flag: per forward address
                st[f'forward {fw.group(1)} packets'] = int(fw.group(2))
                st[f'forward {fw.group(1)} bytes'] = int(fw.group(3))
                continue
            m = re.match(r'(dp|update|mgr\d+)\.(\d+) (\d+)', line)
            if not m:
                continue
            group, idx, val = m.group(1), int(m.group(2)), int(m.group(3))
            if group == 'dp':
                st[COUNTERS['FWD_C_'][idx]] = val
            elif group == 'update':
                st[COUNTERS['FWD_UPD_'][idx]] = val
            else:
                st[group + '.' + COUNTERS['FWD_MGR_'][idx]] = val
    return st


@dataclasses.dataclass
class Case:
    name: str
    desc: str
    inputs: list                  # [(port, frame)] or [(port, frame, time_s)]
    scripts: list                 # one script (str) per manager
    expect: dict                  # port -> [frame]; None: check judges the outputs
    counters: dict = dataclasses.field(default_factory=dict)
    config: dict = dataclasses.field(default_factory=dict)  # extra top-level keys
    xfail: str = ''
    check: object = None          # extra check(outputs, stats)


def l2_in(port):
    return Ether(**IN_L2[port])


def l2_out(port):
    return Ether(**OUT_L2[port])


def _yaml_config(tmp, instance, nmgr, extra):
    lines = [
        f'instance: {instance}',
        'log-level: info',
        'backend: pcap',
        'pcap-sync: true',
        'exit-on-eof: true',
        'hold-time: 1s',
        'heartbeat: 1s',
        f'stats-file: {tmp}/stats',
        'interfaces:',
    ]
    partial = extra.pop('csum-partial', False)
    port_keys = extra.pop('port-keys', {})  # port -> extra interface keys, 'k: v, ...'
    for port, mac in (('cli', CLI_MAC), ('srv', SRV_MAC)):
        lines.append(f'  - {{name: {port}, pcap-in: {tmp}/{port}-in.pcap, '
                     f'pcap-out: {tmp}/{port}-out.pcap, mac: "{mac}"'
                     + (', csum-partial: true' if partial else '')
                     + (', ' + port_keys[port] if port in port_keys else '') + '}')
    lines.append('static-routes:')
    for prefix, port, mac in ROUTES:
        lines.append(f'  - {{prefix: "{prefix}", interface: {port}, mac: "{mac}"}}')
    lines.append('managers:')
    auth = extra.pop('auth-key', None)
    for i in range(nmgr):
        ln = f'  - {{endpoint: "ipc://{tmp}/mgr{i}.sock"'
        if auth:
            ln += f', auth-key: "{auth}"'
        lines.append(ln + '}')
    for k, v in extra.items():
        lines.append(f'{k}: {v}')
    return '\n'.join(lines) + '\n'


class Run:
    def __init__(self, tmp):
        self.tmp = tmp
        self.outputs = {}
        self.stats = {}
        self.logs = ''


_seq = [0]


def run_case(case, keep=False):
    agent = os.environ.get('LOOM_AGENT')
    mgr = os.environ.get('LOOM_MGR_SCRIPT')
    if not agent or not mgr:
        pytest.skip('LOOM_AGENT and LOOM_MGR_SCRIPT must be set (meson test sets them)')
    _seq[0] += 1
    instance = f'golden{os.getpid()}x{_seq[0]}'
    tmp = tempfile.mkdtemp(prefix='loom-golden-')
    run = Run(tmp)
    procs = []
    try:
        # inputs: one pcap per port; times order them across ports
        per_port = {'cli': [], 'srv': []}
        for i, item in enumerate(case.inputs):
            port, frame = item[0], item[1]
            t = item[2] if len(item) > 2 else 0.001 * i
            frame = frame.copy()
            frame.time = 1_700_000_000 + t
            per_port[port].append(frame)
        for port, frames in per_port.items():
            wrpcap(f'{tmp}/{port}-in.pcap', frames, linktype=1)
        extra = dict(case.config)
        with open(f'{tmp}/agent.yaml', 'w') as f:
            f.write(_yaml_config(tmp, instance, len(case.scripts), extra))
        for i, script in enumerate(case.scripts):
            with open(f'{tmp}/mgr{i}.script', 'w') as f:
                f.write(script)
            err = open(f'{tmp}/mgr{i}.log', 'w')
            procs.append(subprocess.Popen(
                [mgr, '-n', f'mgr{i}', f'ipc://{tmp}/mgr{i}.sock', f'{tmp}/mgr{i}.script'],
                stdout=err, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 5
        for i in range(len(case.scripts)):
            while not os.path.exists(f'{tmp}/mgr{i}.sock'):
                if procs[i].poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f'manager {i} did not bind\n' + _logs(tmp, len(procs)))
                time.sleep(0.005)
        alog = open(f'{tmp}/agent.log', 'w')
        ap = subprocess.Popen([agent, '-c', f'{tmp}/agent.yaml'], stdout=alog,
                              stderr=subprocess.STDOUT)
        procs.append(ap)
        try:
            arc = ap.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            ap.terminate()  # its counters still get written: they say where it stuck
            try:
                ap.wait(3)
                st = open(f'{tmp}/stats').read()
            except (subprocess.TimeoutExpired, OSError):
                st = '(no counters)'
            raise AssertionError('agent did not finish in time\n' + st +
                                 _logs(tmp, len(case.scripts)))
        mrc = []
        for p in procs[:-1]:
            try:
                mrc.append(p.wait(MGR_TIMEOUT))
            except subprocess.TimeoutExpired:
                mrc.append('timeout')
        run.logs = _logs(tmp, len(case.scripts))
        assert arc == 0, f'agent exited with {arc}\n' + run.logs
        assert all(r == 0 for r in mrc), f'manager exit codes {mrc}\n' + run.logs
        for port in ('cli', 'srv'):
            path = f'{tmp}/{port}-out.pcap'
            run.outputs[port] = [Ether(bytes(p)) for p in PcapReader(path)] \
                if os.path.exists(path) and os.path.getsize(path) > 24 else []
        run.stats = read_stats(f'{tmp}/stats')
        return run
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in glob.glob(f'/dev/shm/loom.{instance}.*'):
            os.unlink(f)
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _logs(tmp, nmgr):
    out = []
    for name in ['agent'] + [f'mgr{i}' for i in range(nmgr)]:
        try:
            with open(f'{tmp}/{name}.log') as f:
                out.append(f'--- {name} ---\n' + f.read()[-6000:])
        except OSError:
            pass
    return '\n'.join(out)


# ---- comparison -------------------------------------------------------------

CSUM_FIELDS = ('chksum', 'cksum')


def _layers(pkt):
    out = []
    while pkt is not None and not isinstance(pkt, type(None)):
        if pkt.__class__.__name__ in ('NoPayload',):
            break
        out.append(pkt)
        pkt = pkt.payload if pkt.payload else None
    return out


def diff_packets(want, got):
    """Field-by-field differences of two frames; want is built by scapy first,
    so its computed fields (lengths, checksums) are the correct values."""
    want = Ether(bytes(want))
    diffs = []
    wl, gl = _layers(want), _layers(got)
    for i, w in enumerate(wl):
        if i >= len(gl):
            diffs.append(f'missing layer {w.__class__.__name__}')
            break
        g = gl[i]
        if type(w) is not type(g):
            diffs.append(f'layer {i}: expected {w.__class__.__name__}, got {g.__class__.__name__}')
            break
        if isinstance(w, Raw):
            if bytes(w.load) != bytes(g.load):
                diffs.append(f'payload: expected {bytes(w.load)!r}, got {bytes(g.load)!r}')
            continue
        for fd in w.fields_desc:
            wv, gv = w.getfieldval(fd.name), g.getfieldval(fd.name)
            if wv != gv:
                diffs.append(f'{w.__class__.__name__}.{fd.name}: expected {wv!r}, got {gv!r}')
    if len(gl) > len(wl):
        diffs.append('extra layers: ' + '/'.join(x.__class__.__name__ for x in gl[len(wl):]))
    return diffs


def _is_fragment(pkt):
    if IP in pkt:
        ip = pkt[IP]
        return ip.frag != 0 or (ip.flags & 1)
    return False


def bad_checksums(frame):
    """Checksums that differ from scapy's own computation over the packet."""
    bad = []
    frag = _is_fragment(frame)
    for i, layer in enumerate(_layers(frame)):
        name = layer.__class__.__name__
        if name in ('TCPerror', 'UDPerror', 'ICMPerror'):
            continue  # a quote is cut short: its L4 checksum cannot be recomputed
        if frag and name in ('TCP', 'UDP'):
            continue  # covers the whole datagram: checked after reassembly
        for fname in CSUM_FIELDS:
            if fname not in layer.fields:
                continue
            got = layer.getfieldval(fname)
            copy = Ether(bytes(frame))
            lc = _layers(copy)[i]
            lc.delfieldval(fname) if hasattr(lc, 'delfieldval') else None
            setattr(lc, fname, None)
            want = _layers(Ether(bytes(copy)))[i].getfieldval(fname)
            if got != want:
                bad.append(f'{name}.{fname} {got:#06x}, scapy computes {want:#06x}')
    return bad


def check_case(case, run):
    problems = []
    for port in ('cli', 'srv'):
        got = run.outputs.get(port, [])
        if case.expect is None:  # what comes out is case.check's to judge
            want = []
        else:
            want = case.expect.get(port, [])
        if case.expect is not None and len(want) != len(got):
            problems.append(f'{port}: expected {len(want)} packets, got {len(got)}:\n    ' +
                            '\n    '.join(p.summary() for p in got))
        for i, (w, g) in enumerate(zip(want, got)):
            for d in diff_packets(w, g):
                problems.append(f'{port}[{i}] {d}')
        for i, g in enumerate(got):
            for b in bad_checksums(g):
                problems.append(f'{port}[{i}] bad checksum: {b}')
    for name, val in case.counters.items():
        if run.stats.get(name) != val:
            problems.append(f'counter {name}: expected {val}, got {run.stats.get(name)}')
    if case.check:
        problems += case.check(run.outputs, run.stats) or []
    if problems:
        raise AssertionError(f'{case.name}: {case.desc}\n  ' + '\n  '.join(problems) +
                             '\n' + run.logs)


def defrag_l4_ok(frames):
    """Reassemble IPv4 fragments and check each datagram's L4 checksum."""
    bad = []
    for d in defragment([f[IP] for f in frames if IP in f]):
        d = IP(bytes(d))
        for proto in (TCP, UDP):
            if proto in d:
                got = d[proto].chksum
                d2 = d.copy()
                d2[proto].chksum = None
                want = IP(bytes(d2))[proto].chksum
                if got != want:
                    bad.append(f'reassembled {proto.__name__} checksum {got:#06x}, '
                               f'scapy computes {want:#06x}')
    return bad


__all__ = ['Case', 'run_case', 'check_case', 'l2_in', 'l2_out', 'defrag_l4_ok', 'ICMP', 'IP',
           'TCP', 'UDP', 'IPv6', 'IPerror', 'ICMPv6EchoRequest', 'ICMPv6EchoReply', '_ICMPv6']
