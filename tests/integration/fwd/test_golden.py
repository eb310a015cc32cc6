# SPDX-License-Identifier: LGPL-2.1-or-later
"""Golden-packet tests of loom-fwd-agent: the table of cases (docs/testing-fwd.md).

Addresses: clients 10.1.0.0/24 and 2001:db8:1::/64 behind port cli; real
servers 10.2.0.0/24 and 2001:db8:2::/64 behind port srv; virtual addresses
10.9.0.0/24 and 2001:db8:9::/64 (routed normally to VIP_GW on srv).
"""
from socket import inet_aton

import pytest
from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, IPerror, IPv6, Raw, TCPerror, fragment
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6PacketTooBig,
                                 ICMPv6TimeExceeded)

from conftest import (CLI_GW, CLI_MAC, OUT_L2, SRV_GW, VIP_GW, Case, check_case, defrag_l4_ok,
                      diff_packets, l2_in, l2_out, run_case)

C1, S1, S2, VIP = '10.1.0.5', '10.2.0.10', '10.2.0.11', '10.9.0.1'
C6, S6, VIP6 = '2001:db8:1::5', '2001:db8:2::10', '2001:db8:9::1'


def out(frame, port, gw=None, ip=None, l4=None):
    """The frame as the agent should send it out of port: MACs rewritten,
    TTL / hop limit decremented, optional IP and L4 field changes; the
    checksums are left for scapy to compute (so they are the correct ones)."""
    p = Ether(bytes(frame))
    p[Ether].src = OUT_L2[port]['src']
    p[Ether].dst = gw or OUT_L2[port]['dst']
    if IP in p:
        p[IP].ttl -= 1
        p[IP].chksum = None
        net = p[IP]
    else:
        p[IPv6].hlim -= 1
        net = p[IPv6]
    for k, v in (ip or {}).items():
        setattr(net, k, v)
    for layer in (TCP, UDP, ICMP, ICMPv6EchoRequest):
        if layer in p:
            for k, v in (l4 or {}).items():
                setattr(p[layer], k, v)
            p[layer].chksum = None
            break
    return p


def csum_update(csum, old, new):
    """RFC 1624 incremental update of a checksum for changed addresses/ports."""
    def words(vals):
        out = []
        for v in vals:
            b = IP(dst=v).dst.split('.') if isinstance(v, str) else None
            if b:
                out += [int(b[0]) << 8 | int(b[1]), int(b[2]) << 8 | int(b[3])]
            else:
                out.append(v)
        return out
    c = ~csum & 0xffff
    for o, n in zip(words(old), words(new)):
        c += (~o & 0xffff) + n
    while c >> 16:
        c = (c & 0xffff) + (c >> 16)
    return ~c & 0xffff


def cli(ip_pkt):
    return l2_in('cli') / ip_pkt


def srv(ip_pkt):
    return l2_in('srv') / ip_pkt


BASIC = 'hello\nheartbeat\n'

# A load-balancing manager: the virtual service VIP:80 and, for the replies,
# the real servers' side (a fixed affinity needs a wildcard of its manager).
LB = '''hello caps=nat,interest,seq-adjust,advertise
wildcard proto=tcp dst={vip}/{vlen} dport=80 mgrdata=cafe01 identity=mgr-lb
wildcard proto=tcp src={snet} sport=8080
heartbeat
'''
LB4 = LB.format(vip=VIP, vlen=32, snet='10.2.0.0/24')
LB6 = LB.format(vip=VIP6, vlen=128, snet='2001:db8:2::/64')


def first_packet_script(lb, client, vip, server):
    return lb + f'''
expect match-wildcard reasons=SYN|ALL data pkt.src={client} pkt.dst={vip} pkt.sport=40000 pkt.dport=80 key.dst={vip} key.dport=80 mgrdata=cafe01
fixed key=last-reverse src={server} sport=8080 nat.src={vip} nat.sport=80
fixed key=last nat.dst={server} nat.dport=8080 packet=last
quiet 200
'''


def case_routing_v4():
    a = cli(IP(src=C1, dst=S1, ttl=64, id=7) / TCP(sport=1000, dport=22, flags='S', seq=1))
    b = srv(IP(src=S1, dst=C1, ttl=3) / UDP(sport=53, dport=3333) / Raw(b'answer'))
    c = cli(IP(src=C1, dst=S2) / ICMP(type=8, id=9, seq=1) / Raw(b'ping'))
    d = cli(IP(src=C1, dst=S1, ttl=1) / UDP(sport=1, dport=2))         # TTL expires
    e = cli(IP(src=C1, dst='192.0.2.1') / UDP(sport=1, dport=2))      # no route
    f = cli(IP(src=C1, dst=VIP) / TCP(sport=5, dport=443, flags='S'))  # routed like any
    return Case('routing_v4', 'no affinities: routed, TTL decremented, MACs rewritten; '
                'TTL 1 and no route dropped and counted',
                [('cli', a), ('srv', b), ('cli', c), ('cli', d), ('cli', e), ('cli', f)],
                [BASIC],
                {'srv': [out(a, 'srv'), out(c, 'srv'), out(f, 'srv', gw=VIP_GW)],
                 'cli': [out(b, 'cli')]},
                {'FWD_C_RX': 6, 'FWD_C_ROUTED': 4, 'FWD_C_TTL': 1, 'FWD_C_NO_ROUTE': 1,
                 'FWD_C_TX': 4, 'FWD_C_PUNT': 0})


def case_routing_v6():
    a = cli(IPv6(src=C6, dst=S6, hlim=64) / TCP(sport=1000, dport=22, flags='S'))
    b = srv(IPv6(src=S6, dst=C6) / UDP(sport=53, dport=3333) / Raw(b'x' * 20))
    c = cli(IPv6(src=C6, dst=S6) / ICMPv6EchoRequest(id=3, seq=4))
    d = cli(IPv6(src=C6, dst=S6, hlim=1) / UDP(sport=1, dport=2))
    return Case('routing_v6', 'IPv6 routing: hop limit decremented, hop limit 1 dropped',
                [('cli', a), ('srv', b), ('cli', c), ('cli', d)], [BASIC],
                {'srv': [out(a, 'srv'), out(c, 'srv')], 'cli': [out(b, 'cli')]},
                {'FWD_C_ROUTED': 3, 'FWD_C_TTL': 1})


def _first_packet_case(name, v6):
    ipc = (lambda **k: IPv6(**k)) if v6 else (lambda **k: IP(**k))
    client, vip, server = (C6, VIP6, S6) if v6 else (C1, VIP, S1)
    syn = cli(ipc(src=client, dst=vip) / TCP(sport=40000, dport=80, flags='S', seq=100))
    synack = srv(ipc(src=server, dst=client) / TCP(sport=8080, dport=40000, flags='SA',
                                                  seq=900, ack=101))
    data = cli(ipc(src=client, dst=vip) / TCP(sport=40000, dport=80, flags='PA', seq=101,
                                             ack=901) / Raw(b'GET / HTTP/1.0\r\n\r\n'))
    dnat = {'dst': server}
    return Case(name, 'first packet punted to the manager, returned with a DNAT fixed '
                'affinity; the reply direction SNATed by its own fixed affinity',
                [('cli', syn), ('srv', synack), ('cli', data)],
                [first_packet_script(LB6 if v6 else LB4, client, vip, server)],
                {'srv': [out(syn, 'srv', ip=dnat, l4={'dport': 8080}),
                         out(data, 'srv', ip=dnat, l4={'dport': 8080})],
                 'cli': [out(synack, 'cli', ip={'src': vip}, l4={'sport': 80})]},
                {'FWD_C_WILD_HIT': 1, 'FWD_C_PUNT': 1, 'FWD_C_HELD': 1, 'FWD_C_INJECTED': 1,
                 'FWD_C_FIXED_HIT': 3, 'FWD_C_NAT': 3, 'FWD_UPD_APPLIED': 4,
                 'mgr0.FWD_MGR_PUNTS': 1, 'mgr0.FWD_MGR_RETURNED': 1})


def case_nat_each_field():
    flows = [('nat.sport=5555', {}, {'sport': 5555}, 1001),
             ('nat.dport=2222', {}, {'dport': 2222}, 1002),
             ('nat.src=10.1.0.77', {'src': '10.1.0.77'}, {}, 1003),
             ('nat.dst=10.2.0.11', {'dst': S2}, {}, 1004)]
    script = 'hello\nwildcard proto=udp dst=10.2.0.10/32\n'
    ins, outs = [], []
    for nat, ipch, l4ch, sport in flows:
        script += f'fixed proto=udp src={C1} sport={sport} dst={S1} dport=7 {nat}\n'
        p = cli(IP(src=C1, dst=S1) / UDP(sport=sport, dport=7) / Raw(b'nat-one-field'))
        ins.append(('cli', p))
        outs.append(out(p, 'srv', ip=ipch, l4=l4ch))
    script += 'heartbeat\nquiet 100\n'
    return Case('nat_each_field', 'each NAT field alone (source/destination address/port)',
                ins, [script], {'srv': outs}, {'FWD_C_NAT': 4, 'FWD_C_PUNT': 0})


def case_seq_adjust():
    script = f'''hello caps=seq-adjust
wildcard proto=tcp dst={S1}/32
fixed proto=tcp src={C1} sport=1 dst={S1} dport=80 seq=0x200:0xffffff00:0xffffff00:1000
heartbeat
quiet 100
'''
    def p(seq, ack, flags='A'):
        return cli(IP(src=C1, dst=S1) / TCP(sport=1, dport=80, flags=flags, seq=seq, ack=ack))
    a = p(0xffffff80, 5000)       # both adjusted; seq wraps past 2^32
    b = p(0xfffffe00, 500)        # both below their initial values: unchanged
    c = p(0x10, 0x20)             # seq after the wrap (modular >= init); ack below
    d = p(0xffffff80, 5000, 'S')  # no ACK flag: the ack field is not an ack
    return Case('seq_adjust', 'sequence/ack adjust at or above the initial values, '
                'with wraparound', [('cli', a), ('cli', b), ('cli', c), ('cli', d)], [script],
                {'srv': [out(a, 'srv', l4={'seq': 0x180, 'ack': 4744}), out(b, 'srv'),
                         out(c, 'srv', l4={'seq': 0x210}), out(d, 'srv', l4={'seq': 0x180})]},
                {'FWD_C_SEQ': 4})


def case_dispatch():
    script = f'''hello
wildcard proto=udp dst={VIP}/32
fixed proto=udp src={C1} sport=1 dst={VIP} dport=53 dispatch forward={S1} info
fixed proto=udp src={C1} sport=2 dst={VIP} dport=53 dispatch forward=0.0.0.0
heartbeat
quiet 100
'''
    a = cli(IP(src=C1, dst=VIP) / UDP(sport=1, dport=53) / Raw(b'q1'))
    b = cli(IP(src=C1, dst=VIP) / UDP(sport=2, dport=53) / Raw(b'q2'))
    return Case('dispatch', 'dispatch: destination kept, routed toward the forward address '
                '(SRV_GW, not VIP_GW); forward address 0 dropped and counted',
                [('cli', a), ('cli', b)], [script], {'srv': [out(a, 'srv', gw=SRV_GW)]},
                {'FWD_C_DISPATCH': 1, 'FWD_C_DISPATCH_DROP': 1, 'FWD_C_TX': 1,
                 # the information flag: counted for the forward address
                 f'forward {S1} packets': 1, f'forward {S1} bytes': len(a)})


def case_interest():
    script = f'''hello caps=interest
wildcard proto=tcp dst={S1}/32
fixed proto=tcp src={C1} sport=1 dst={S1} dport=80 interest=FIN|RST:RST:-:- mgrdata=0102
fixed proto=tcp src={C1} sport=2 dst={S1} dport=80 interest=FIN:-:FIN:-
fixed proto=tcp src={C1} sport=3 dst={S1} dport=80 interest=FIN:-:-:FIN
heartbeat
expect match-fixed reasons=FIN nodata key.sport=1 mgrdata=0102
expect match-fixed reasons=RST data pkt.sport=1 pkt.dst={S1}
expect match-fixed reasons=FIN data pkt.sport=2
expect match-fixed reasons=FIN data pkt.sport=3
fixed key=last interest=RST:-:-:- packet=last
quiet 200
'''
    def p(sport, flags, data=b''):
        return cli(IP(src=C1, dst=S1) / TCP(sport=sport, dport=80, flags=flags, seq=10) /
                   Raw(data)) if data else cli(IP(src=C1, dst=S1) /
                                               TCP(sport=sport, dport=80, flags=flags))
    d1 = p(1, 'PA', b'data')     # no interest: forwarded silently
    f1 = p(1, 'FA')              # notify without data, forwarded
    r1 = p(1, 'R')               # notify with data, forwarded
    f2 = p(2, 'FA')              # copy to the manager, forwarded
    f3 = p(3, 'FA')              # held: only forwarded once the manager returns it
    return Case('interest_fixed', 'interest criteria on fixed affinities: notify with and '
                'without data, copy, hold', [('cli', x) for x in (d1, f1, r1, f2, f3)],
                [script], {'srv': [out(x, 'srv') for x in (d1, f1, r1, f2, f3)]},
                {'FWD_C_PUNT': 4, 'FWD_C_HELD': 1, 'FWD_C_FIXED_HIT': 6,
                 'mgr0.FWD_MGR_PUNTS': 4, 'mgr0.FWD_MGR_RETURNED': 1})


def case_advertise():
    script = f'''hello caps=advertise
wildcard proto=tcp dst={VIP}/32 dport=80 advertise={VIP}
heartbeat
quiet 100
'''
    arp = Ether(src=CLI_GW, dst='ff:ff:ff:ff:ff:ff') / ARP(
        op=1, hwsrc=CLI_GW, psrc='10.1.0.254', pdst=VIP)
    arp_other = Ether(src=CLI_GW, dst='ff:ff:ff:ff:ff:ff') / ARP(
        op=1, hwsrc=CLI_GW, psrc='10.1.0.254', pdst='10.9.0.2')
    udp = cli(IP(src=C1, dst=VIP) / UDP(sport=9, dport=53))
    other = cli(IP(src=C1, dst='10.9.0.2') / UDP(sport=9, dport=53))
    reply = Ether(src=CLI_MAC, dst=CLI_GW) / ARP(op=2, hwsrc=CLI_MAC, psrc=VIP, hwdst=CLI_GW,
                                                  pdst='10.1.0.254') / Raw(b'\0' * 18)
    return Case('advertise', 'advertised address: ARP answered with the agent\'s MAC; a '
                'packet to it matching no affinity dropped and counted',
                [('cli', arp), ('cli', arp_other), ('cli', udp), ('cli', other)], [script],
                {'cli': [reply], 'srv': [out(other, 'srv', gw=VIP_GW)]},
                {'FWD_C_ARP_REPLY': 1, 'FWD_C_ADV_DROP': 1, 'FWD_C_NOT_IP': 2})


def case_service_precedence():
    m0 = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80 prec=10
heartbeat
expect match-wildcard pkt.dst={VIP}
fixed key=last prec=10 nat.sport=41000 packet=last
quiet 300
'''
    m1 = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80 prec=5
wildcard proto=tcp src=10.2.0.0/24
heartbeat
reply pkt.dst={VIP} nat.dst={S1} prec=5
quiet 300
'''
    syn = cli(IP(src=C1, dst=VIP) / TCP(sport=40000, dport=80, flags='S'))
    return Case('service_precedence', 'two services: the better precedence is punted first; '
                'its returned packet continues to the next service, whose NAT applies last',
                [('cli', syn)], [m0, m1],
                {'srv': [out(syn, 'srv', ip={'dst': S1}, l4={'sport': 41000})]},
                {'mgr0.FWD_MGR_PUNTS': 1, 'mgr1.FWD_MGR_PUNTS': 1},
                xfail='agent: a fixed-affinity hit ends the search, so a packet the better '
                      'service returns with its fixed affinity never reaches the next '
                      'service; and one fixed entry per flow key cannot hold both '
                      'services\' affinities')


def case_precedence_order():
    m0 = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80 prec=1:lower
heartbeat
reply pkt.dst={VIP} nat.dst={S1} prec=1:lower
quiet 200
'''
    m1 = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80 prec=9:lower
heartbeat
quiet 300
'''
    syn = cli(IP(src=C1, dst=VIP) / TCP(sport=40000, dport=80, flags='S'))
    return Case('precedence_order', 'search order "lower is better": precedence 1 wins '
                'over 9 (the other manager hears nothing)', [('cli', syn)], [m0, m1],
                {'srv': [out(syn, 'srv', ip={'dst': S1})]},
                {'mgr0.FWD_MGR_PUNTS': 1, 'mgr1.FWD_MGR_PUNTS': 0})


def case_cascade_returned(order):
    """A manager that only observes returns the packet as it is (IP packet
    only, which carries no precedence): it must go on to the next service,
    in either search order."""
    hi, lo = ('200', '100') if order == 'higher' else ('1', '9')
    m0 = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80 prec={hi}:{order}
heartbeat
expect match-wildcard pkt.dst={VIP}
packet
quiet 300
'''
    m1 = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80 prec={lo}:{order}
heartbeat
reply pkt.dst={VIP} nat.dst={S1} prec={lo}:{order}
quiet 200
'''
    syn = cli(IP(src=C1, dst=VIP) / TCP(sport=40002, dport=80, flags='S'))
    return Case(f'cascade_returned_{order}', f'search order "{order} is better": the first '
                'manager returns the packet unchanged, the second decides it',
                [('cli', syn)], [m0, m1], {'srv': [out(syn, 'srv', ip={'dst': S1})]},
                {'mgr0.FWD_MGR_PUNTS': 1, 'mgr1.FWD_MGR_PUNTS': 1})


def case_backup_precedence():
    m0 = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80 backup=1
heartbeat
expect match-wildcard pkt.sport=40001
wildcard proto=tcp dst={VIP}/32 dport=80 backup=1 ttl=0
packet
quiet 300
'''
    m1 = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80 backup=2
heartbeat
reply pkt.sport=40002 nat.dst={S2}
quiet 200
'''
    a = cli(IP(src=C1, dst=VIP) / TCP(sport=40001, dport=80, flags='S'))
    b = cli(IP(src=C1, dst=VIP) / TCP(sport=40002, dport=80, flags='S'))
    return Case('backup_precedence', 'the lower backup precedence gets the flow; once its '
                'wildcard is deleted (TTL 0) the backup takes over',
                [('cli', a), ('cli', b)], [m0, m1],
                {'srv': [out(a, 'srv', gw=VIP_GW), out(b, 'srv', ip={'dst': S2})]},
                {'mgr0.FWD_MGR_PUNTS': 1, 'mgr1.FWD_MGR_PUNTS': 1, 'FWD_UPD_DELETED': 1})


def case_returned_routed():
    script = f'''hello
wildcard proto=tcp src={S1}/32 sport=80 dst=10.1.0.0/24
heartbeat
expect match-wildcard pkt.src={S1}
packet
quiet 200
'''
    sa = srv(IP(src=S1, dst=C1) / TCP(sport=80, dport=40000, flags='SA'))
    return Case('returned_routed', 'a packet the manager returns as it is (IP packet only) '
                'is routed normally, the wildcard that attracted it notwithstanding',
                [('srv', sa)], [script], {'cli': [out(sa, 'cli')]},
                {'mgr0.FWD_MGR_PUNTS': 1, 'FWD_C_INJECTED': 1, 'FWD_C_ROUTED': 1})


def pseudo_sum(frame):
    """The frame with its TCP/UDP checksum field holding only the pseudo-header
    sum, as a NIC that is to finish it gets it (CHECKSUM_PARTIAL)."""
    p = Ether(bytes(frame))
    ip = p[IP]
    l4 = bytes(ip.payload)
    words = [int.from_bytes(inet_aton(a)[i:i + 2], 'big') for a in (ip.src, ip.dst)
             for i in (0, 2)] + [ip.proto, len(l4)]
    s = sum(words)
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    p[ip.payload.__class__].chksum = s
    return p


def case_returned_partial():
    script = f'''hello
wildcard proto=tcp src={S1}/32 sport=80 dst=10.1.0.0/24
heartbeat
expect match-wildcard pkt.src={S1}
packet
quiet 200
'''
    sa = srv(IP(src=S1, dst=C1) / TCP(sport=80, dport=40000, flags='SA') / Raw(b'x' * 10))
    return Case('returned_partial', 'a punted packet whose checksum the sender left partial '
                'goes to the manager finished, so the manager (and whoever it returns the '
                'packet to) sees a valid checksum', [('srv', pseudo_sum(sa))], [script],
                {'cli': [out(sa, 'cli')]}, {'mgr0.FWD_MGR_PUNTS': 1, 'FWD_C_INJECTED': 1},
                config={'csum-partial': True})


def case_fixed_delete():
    script = f'''hello
wildcard proto=udp dst={VIP}/32
fixed proto=udp src={C1} sport=1 dst={VIP} dport=53 nat.dst={S1}
fixed proto=udp src={C1} sport=2 dst={VIP} dport=53 nat.dst={S1}
fixed proto=udp src={C1} sport=2 dst={VIP} dport=53 ttl=0
heartbeat
reply pkt.sport=2 nat.dst={S2}
quiet 200
'''
    a = cli(IP(src=C1, dst=VIP) / UDP(sport=1, dport=53))
    b = cli(IP(src=C1, dst=VIP) / UDP(sport=2, dport=53))
    return Case('fixed_delete', 'a fixed affinity deleted with TTL 0: its flow is punted '
                'again (the other flow still hits)', [('cli', a), ('cli', b)], [script],
                {'srv': [out(a, 'srv', ip={'dst': S1}), out(b, 'srv', ip={'dst': S2})]},
                {'FWD_UPD_DELETED': 1, 'FWD_C_PUNT': 1, 'FWD_C_FIXED_HIT': 2})


def case_fixed_expiry():
    script = f'''hello
wildcard proto=udp dst={VIP}/32
heartbeat
reply pkt.sport=1 nat.dst={S1} ttl=1
reply pkt.sport=1 nat.dst={S2} ttl=1 timeout=6000
quiet 200
'''
    a = cli(IP(src=C1, dst=VIP) / UDP(sport=1, dport=53) / Raw(b'a'))
    b = cli(IP(src=C1, dst=VIP) / UDP(sport=1, dport=53) / Raw(b'b'))
    return Case('fixed_expiry', 'a fixed affinity with TTL 1 s has expired 3.5 s later: '
                'the flow is punted again', [('cli', a, 0.0), ('cli', b, 3.5)], [script],
                {'srv': [out(a, 'srv', ip={'dst': S1}), out(b, 'srv', ip={'dst': S2})]},
                {'FWD_C_PUNT': 2}, config={'pcap-pace': 'real'})


def case_update_deny():
    script = f'''hello nocaps=seq-adjust caps=nat
wildcard proto=tcp dst={VIP}/32 seq=1:0:1:0 required=seq-adjust identity=mgr-x
expect deny denies=seq-adjust
wildcard proto=tcp dst={VIP}/32 actions=seq-adjust!,nat,interest!
expect deny denies=seq-adjust
wildcard proto=tcp dst={VIP}/32 actions=nat!,interest!
heartbeat
reply pkt.dst={VIP} nat.dst={S1}
quiet 200
'''
    syn = cli(IP(src=C1, dst=VIP) / TCP(sport=40000, dport=80, flags='S'))
    return Case('update_deny', 'an agent without seq-adjust denies updates requiring it '
                '(Required segment, or Required in the action list); the retry is applied',
                [('cli', syn)], [script], {'srv': [out(syn, 'srv', ip={'dst': S1})]},
                {'FWD_UPD_DENIED': 2, 'mgr0.FWD_MGR_DENIES': 2, 'FWD_C_PUNT': 1},
                config={'seq-adjust': 'false'})


def case_backing_wildcard():
    m0 = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80
fixed proto=tcp src={C1} sport=7 dst={S1} dport=22 nat.dst={S2}
heartbeat
reply pkt.sport=40000 nat.dst={S1}
quiet 200
'''
    m1 = f'''hello
fixed proto=tcp src={C1} sport=40000 dst={VIP} dport=80 nat.dst={S2}
heartbeat
quiet 300
'''
    a = cli(IP(src=C1, dst=S1) / TCP(sport=7, dport=22, flags='S'))
    b = cli(IP(src=C1, dst=VIP) / TCP(sport=40000, dport=80, flags='S'))
    return Case('backing_wildcard', 'fixed affinities without a wildcard of their manager '
                'behind them are ignored: routed normally / punted per the wildcards',
                [('cli', a), ('cli', b)], [m0, m1],
                {'srv': [out(a, 'srv'), out(b, 'srv', ip={'dst': S1})]},
                {'FWD_UPD_NO_WILDCARD': 2, 'mgr0.FWD_MGR_PUNTS': 1,
                 'mgr1.FWD_MGR_PUNTS': 0})


def case_interest_bytes():
    # the host agent of a direct-return service (seed 002): tell the manager
    # once the replies carried 3000 bytes, once
    script = f'''hello caps=interest
wildcard proto=tcp dst={S1}/32
fixed proto=tcp src={C1} sport=5 dst={S1} dport=80 interest=-:-:-:- interest.bytes=3000 mgrdata=0a0b
heartbeat
expect match-fixed reasons=BYTES nodata key.sport=5 key.dst={S1} mgrdata=0a0b
quiet 400
'''
    pkts = [cli(IP(src=C1, dst=S1) / TCP(sport=5, dport=80, flags='A', seq=10 + 1400 * i) /
                Raw(b'x' * 1400)) for i in range(4)]
    return Case('interest_bytes', 'a byte threshold in the interest criteria: one match '
                'without a packet once the affinity carried that many bytes',
                [('cli', p) for p in pkts], [script], {'srv': [out(p, 'srv') for p in pkts]},
                {'FWD_C_TX': 4, 'mgr0.FWD_MGR_PUNTS': 1})


# An established DNAT flow C1:40000 -> VIP:80 => S1:8080, both directions.
NAT_FLOW = f'''hello
wildcard proto=tcp dst={VIP}/32 dport=80
wildcard proto=tcp src=10.2.0.0/24 sport=8080
fixed proto=tcp src={C1} sport=40000 dst={VIP} dport=80 nat.dst={S1} nat.dport=8080
fixed proto=tcp src={S1} sport=8080 dst={C1} dport=40000 nat.src={VIP} nat.sport=80
heartbeat
quiet 100
'''


def case_icmp_errors():
    # path MTU: a router on the client side cannot pass the server's reply
    # (which the client saw as coming from VIP:80)
    fn = cli(IP(src='10.1.0.254', dst=VIP) / ICMP(type=3, code=4, nexthopmtu=1400) /
             IPerror(src=VIP, dst=C1, ttl=60, id=5) / TCPerror(sport=80, dport=40000, seq=77))
    # time exceeded: a router on the server side drops the client's translated packet
    te = srv(IP(src='10.2.0.254', dst=C1) / ICMP(type=11, code=0) /
             IPerror(src=C1, dst=S1, ttl=1, id=6) / TCPerror(sport=40000, dport=8080, seq=5))
    fn, te = Ether(bytes(fn)), Ether(bytes(te))
    fn_out = out(fn, 'srv', ip={'dst': S1})
    fn_out[IPerror].src = S1
    fn_out[IPerror].chksum = None
    fn_out[TCPerror].sport = 8080
    # a quote is cut short: its TCP checksum can only follow the changes
    fn_out[TCPerror].chksum = csum_update(fn[TCPerror].chksum, [VIP, 80], [S1, 8080])
    te_out = out(te, 'cli', ip={'src': VIP})
    te_out[IPerror].dst = VIP
    te_out[IPerror].chksum = None
    te_out[TCPerror].dport = 80
    te_out[TCPerror].chksum = csum_update(te[TCPerror].chksum, [S1, 8080], [VIP, 80])
    case = Case('icmp_errors', 'frag-needed and time-exceeded for a translated flow: '
                'translated inside (quote) and out, checksums valid',
                [('cli', fn), ('srv', te)], [NAT_FLOW],
                {'srv': [fn_out], 'cli': [te_out]}, {'FWD_C_ICMP_XLATE': 2})
    return case


def case_fragments():
    dgram = IP(src=C1, dst=VIP, id=4242) / UDP(sport=40000, dport=80) / Raw(bytes(range(200)) * 5)
    frags = fragment(dgram, fragsize=400)
    assert len(frags) == 3
    orphan_dgram = IP(src=C1, dst=VIP, id=4343) / UDP(sport=40001, dport=80) / Raw(b'z' * 900)
    of = fragment(orphan_dgram, fragsize=400)
    script = f'''hello
wildcard proto=udp dst={VIP}/32
fixed proto=udp src={C1} sport=40000 dst={VIP} dport=80 nat.dst={S1} nat.dport=8080
fixed proto=udp src={C1} sport=40001 dst={VIP} dport=80 nat.dst={S1} nat.dport=8080
heartbeat
quiet 100
'''
    ins = [cli(frags[0]), cli(frags[2]), cli(frags[1]), cli(of[1]), cli(of[0])]
    exp = []
    for f, whole in ((frags[0], dgram), (frags[2], dgram), (frags[1], dgram),
                     (of[0], orphan_dgram)):
        p = Ether(bytes(cli(f)))
        p[Ether].src, p[Ether].dst = OUT_L2['srv']['src'], OUT_L2['srv']['dst']
        p[IP].ttl -= 1
        p[IP].dst = S1
        p[IP].chksum = None
        if f.frag == 0:
            # the first fragment's UDP checksum covers the translated datagram
            t = whole.copy()
            t[IP].dst = S1
            t[UDP].dport = 8080
            t[UDP].chksum = None
            p[UDP].dport = 8080
            p[UDP].chksum = IP(bytes(t))[UDP].chksum
        exp.append(p)

    def check(outs_, stats):
        probs = defrag_l4_ok([o for o in outs_.get('srv', []) if o[IP].id == 4242])
        firsts = [o for o in outs_.get('srv', []) if o[IP].frag == 0]
        for o in firsts:
            if UDP not in o or o[UDP].dport != 8080:
                probs.append(f'first fragment not translated to port 8080: {o.summary()}')
        return probs

    return Case('fragments', 'fragments follow their first (NAT on addresses, ports in the '
                'first only, also out of order); a later fragment before its first is '
                'dropped and counted', [('cli', x) for x in ins], [script],
                {'srv': exp}, {'FWD_C_FRAG_FOLLOW': 2, 'FWD_C_FRAG_ORPHAN': 1},
                check=check)


def case_malformed():
    good = cli(IP(src=C1, dst=S1) / UDP(sport=1, dport=2) / Raw(b'ok'))
    bad = [
        # IPv4 header length beyond the packet
        Ether(type=0x0800) / Raw(bytes(IP(src=C1, dst=S1, ihl=15) / UDP())[:24]),
        # total length beyond the frame
        cli(IP(src=C1, dst=S1, len=500) / UDP(sport=1, dport=2)),
        # header length below the minimum
        cli(IP(src=C1, dst=S1, ihl=3) / UDP(sport=1, dport=2)),
        # TCP data offset below 5
        cli(IP(src=C1, dst=S1) / TCP(sport=1, dport=2, dataofs=2)),
        # TCP header cut short
        Ether(type=0x0800) / Raw(bytes(IP(src=C1, dst=S1, proto=6, len=30) / Raw(b'\0' * 10))),
        # IPv6 payload length beyond the frame
        cli(IPv6(src=C6, dst=S6, plen=300) / UDP(sport=1, dport=2)),
        # IPv4 ethertype with an IPv6 header
        Ether(src=CLI_GW, dst=CLI_MAC, type=0x0800) / Raw(bytes(IPv6(src=C6, dst=S6) / UDP())),
    ]
    ins = []
    for b in bad:
        b[Ether].src, b[Ether].dst = CLI_GW, CLI_MAC
        ins += [('cli', b), ('cli', good)]
    n = len(bad)
    return Case('malformed', 'malformed packets of several kinds: dropped, counted, and '
                'the next good packet still forwarded', ins, [BASIC],
                {'srv': [out(good, 'srv')] * n},
                {'FWD_C_MALFORMED': n, 'FWD_C_ROUTED': n, 'FWD_C_TX': n})


def case_auth():
    key = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff'
    script = f'auth {key}\n' + first_packet_script(LB4, C1, VIP, S1)
    c = _first_packet_case('x', False)
    return Case('auth', 'every message carries an HMAC security segment (both ways): the '
                'first-packet exchange works as without', c.inputs, [script], c.expect,
                {'mgr0.FWD_MGR_RX_BAD': 0, 'FWD_C_PUNT': 1}, config={'auth-key': key})


def case_icmp_echo_nat():
    script = f'''hello
wildcard proto=icmp dst={VIP}/32
wildcard proto=icmp src=10.2.0.0/24
heartbeat
expect match-wildcard pkt.proto=icmp pkt.sport=77
fixed proto=icmp src={S1} sport=77 dst={C1} dport=0 nat.src={VIP}
fixed key=last nat.dst={S1} packet=last
quiet 100
'''
    req = cli(IP(src=C1, dst=VIP) / ICMP(type=8, id=77, seq=1) / Raw(b'hello'))
    rep = srv(IP(src=S1, dst=C1) / ICMP(type=0, id=77, seq=1) / Raw(b'hello'))
    return Case('icmp_echo_nat', 'ICMP echo flows keyed by identifier, NAT both ways',
                [('cli', req), ('srv', rep)], [script],
                {'srv': [out(req, 'srv', ip={'dst': S1})],
                 'cli': [out(rep, 'cli', ip={'src': VIP})]}, {'FWD_C_NAT': 2})

# The agent as a router that answers (pcap ports with addresses and an MTU):
# its addresses on each side, the server side's MTU.
RTR_CLI, RTR_SRV, RTR_CLI6, RTR_SRV6 = '10.1.0.1', '10.2.0.1', '2001:db8:1::1', '2001:db8:2::1'
ROUTER_PORTS = {'port-keys': {
    'cli': f'address: {RTR_CLI}, address6: "{RTR_CLI6}"',
    'srv': f'address: {RTR_SRV}, address6: "{RTR_SRV6}", mtu: 1280'}}


def icmp_back(frame, port, src, icmp):
    """The ICMP error a router sends out of port (where frame came in) about
    frame: from src, TTL 64, quoting the packet as it came, cut at 576 bytes
    (IPv4) / 1280 (IPv6); scapy computes every length and checksum."""
    f = Ether(bytes(frame))
    if IP in f:
        quote = bytes(f[IP])[:576 - 28]
        net = IP(src=src, dst=f[IP].src, ttl=64, tos=0xc0, id=0, flags=0)
    else:
        quote = bytes(f[IPv6])[:1280 - 48]
        net = IPv6(src=src, dst=f[IPv6].src, hlim=64)
    return l2_out(port) / net / icmp / Raw(quote)


def case_router_icmp_v4():
    te = cli(IP(src=C1, dst=S1, ttl=1, id=11) / UDP(sport=33434, dport=33435) / Raw(b't' * 32))
    ping = cli(IP(src=C1, dst=S1, ttl=1, id=12) / ICMP(type=8, id=5, seq=1) / Raw(b'p' * 56))
    big = cli(IP(src=C1, dst=S1, flags='DF', id=13) / UDP(sport=5, dport=6) / Raw(b'b' * 1372))
    fits = cli(IP(src=C1, dst=S1, flags='DF', id=14) / UDP(sport=5, dport=6) / Raw(b'f' * 1252))
    nodf = cli(IP(src=C1, dst=S1, id=15) / UDP(sport=5, dport=6) / Raw(b'n' * 1372))
    unreach = cli(IP(src=C1, dst='192.0.2.1', id=16) / UDP(sport=7, dport=8))
    # never answered: an ICMP error, a multicast destination, a source that is
    # not a host, a later fragment
    err = cli(IP(src=C1, dst=S1, ttl=1) / ICMP(type=3, code=3) /
              IPerror(src=S1, dst=C1) / UDP(sport=6, dport=5))
    mcast = cli(IP(src=C1, dst='239.1.1.1', ttl=1) / UDP(sport=5, dport=6))
    zero = cli(IP(src='0.0.0.0', dst=S1, ttl=1) / UDP(sport=68, dport=67))
    frags = fragment(IP(src=C1, dst=S1, id=99, ttl=64) / UDP(sport=9, dport=9) / Raw(b'z' * 64),
                     fragsize=32)
    f1, f2 = cli(frags[0]), cli(frags[1])
    f2[IP].ttl = 1
    f2 = Ether(bytes(f2))
    f1_out = out(f1, 'srv')
    f1_out[UDP].chksum = Ether(bytes(f1))[UDP].chksum  # the whole datagram's: unchanged
    router = 'ICMP errors of a router (pcap ports with addresses, server side MTU 1280)'
    return Case('router_icmp_v4', router + ': time exceeded for TTL 1 (UDP and echo), frag '
                'needed with the MTU for DF over 1280 (quote cut at 576 bytes), net unreachable '
                'for no route; none about an ICMP error, to multicast, from 0.0.0.0 or for a '
                'later fragment; a packet that fits or has no DF goes on',
                [('cli', x) for x in (te, ping, big, fits, nodf, unreach, err, mcast, zero,
                                      f1, f2)], [BASIC],
                {'cli': [icmp_back(te, 'cli', RTR_CLI, ICMP(type=11, code=0)),
                         icmp_back(ping, 'cli', RTR_CLI, ICMP(type=11, code=0)),
                         icmp_back(big, 'cli', RTR_CLI, ICMP(type=3, code=4, nexthopmtu=1280)),
                         icmp_back(unreach, 'cli', RTR_CLI, ICMP(type=3, code=0))],
                 'srv': [out(fits, 'srv'), out(nodf, 'srv'), f1_out]},
                {'FWD_C_TTL': 5, 'FWD_C_TOO_BIG': 1, 'FWD_C_NO_ROUTE': 2,
                 'FWD_C_ICMP_SENT': 4, 'FWD_C_ICMP_LIMITED': 0, 'FWD_C_TX': 7},
                config=dict(ROUTER_PORTS))


def case_router_icmp_v6():
    te = cli(IPv6(src=C6, dst=S6, hlim=1) / UDP(sport=33434, dport=33435) / Raw(b't' * 32))
    big = cli(IPv6(src=C6, dst=S6) / UDP(sport=5, dport=6) / Raw(b'b' * 1352))
    fits = cli(IPv6(src=C6, dst=S6) / UDP(sport=5, dport=6) / Raw(b'f' * 1232))
    unreach = cli(IPv6(src=C6, dst='2001:db8:77::1') / UDP(sport=7, dport=8))
    err = cli(IPv6(src=C6, dst=S6, hlim=1) / ICMPv6DestUnreach(code=4) /
              IPv6(src=S6, dst=C6) / UDP(sport=6, dport=5))
    mcast = cli(IPv6(src=C6, dst='ff0e::1', hlim=1) / UDP(sport=5, dport=6))
    return Case('router_icmp_v6', 'ICMPv6 errors of a router: time exceeded for hop limit '
                '1, packet too big with the MTU for 1400 bytes over 1280 (quote cut at '
                '1280 bytes), no route; none about an ICMPv6 error or to multicast',
                [('cli', x) for x in (te, big, fits, unreach, err, mcast)], [BASIC],
                {'cli': [icmp_back(te, 'cli', RTR_CLI6, ICMPv6TimeExceeded(code=0)),
                         icmp_back(big, 'cli', RTR_CLI6, ICMPv6PacketTooBig(mtu=1280)),
                         icmp_back(unreach, 'cli', RTR_CLI6, ICMPv6DestUnreach(code=0))],
                 'srv': [out(fits, 'srv')]},
                {'FWD_C_TTL': 2, 'FWD_C_TOO_BIG': 1, 'FWD_C_NO_ROUTE': 2,
                 'FWD_C_ICMP_SENT': 3, 'FWD_C_TX': 4},
                config=dict(ROUTER_PORTS))


def case_router_icmp_rate():
    """Many more errors than the burst at once: about 50 go (a token a
    millisecond may come back while they are processed), the rest are
    counted. 300 packets take well under a millisecond; the check allows
    100 ms of refills (a worker descheduled on a loaded machine) before it
    would call the limit broken."""
    n = 300
    ins = [('cli', cli(IP(src=C1, dst=S1, ttl=1, id=i) / UDP(sport=1, dport=2)))
           for i in range(n)]

    def check(outputs, stats):
        sent, limited = stats.get('FWD_C_ICMP_SENT', 0), stats.get('FWD_C_ICMP_LIMITED', 0)
        got = outputs.get('cli', [])
        problems = []
        if not 50 <= sent < 150 or sent + limited != n:
            problems.append(f'{sent} errors sent and {limited} limited of {n}: want 50 '
                            'and a few refilled tokens, the rest limited')
        if len(got) != sent or outputs.get('srv'):
            problems.append(f'{len(got)} frames out of cli for {sent} errors sent')
        for i, g in enumerate(got):
            for d in diff_packets(icmp_back(ins[g[IPerror].id][1], 'cli', RTR_CLI,
                                            ICMP(type=11, code=0)), g):
                problems.append(f'cli[{i}] {d}')
        return problems
    return Case('router_icmp_rate', 'ICMP errors are rate limited per worker (burst 50, '
                '1000/s): 300 TTL-expired packets at full speed get about 50 errors',
                ins, [BASIC], None, {'FWD_C_TTL': n}, config=dict(ROUTER_PORTS), check=check)


CASES = [
    case_returned_routed(), case_returned_partial(),
    case_cascade_returned('higher'), case_cascade_returned('lower'),
    case_routing_v4(), case_routing_v6(),
    _first_packet_case('first_packet_v4', False), _first_packet_case('first_packet_v6', True),
    case_nat_each_field(), case_seq_adjust(), case_dispatch(), case_interest(),
    case_interest_bytes(),
    case_advertise(), case_service_precedence(), case_precedence_order(),
    case_backup_precedence(), case_fixed_delete(), case_fixed_expiry(), case_update_deny(),
    case_backing_wildcard(), case_icmp_errors(), case_fragments(), case_malformed(),
    case_auth(), case_icmp_echo_nat(),
    case_router_icmp_v4(), case_router_icmp_v6(), case_router_icmp_rate(),
]


@pytest.mark.parametrize('case', [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(
    reason=c.xfail, strict=True)] if c.xfail else []) for c in CASES])
def test_golden(case):
    run = run_case(case)
    check_case(case, run)
