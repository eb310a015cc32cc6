# SPDX-License-Identifier: LGPL-2.1-or-later
"""Golden-packet tests of loom-pkt-engine: the table of cases (docs/pkt-engine.md).

The definitions are conftest.DEFINITIONS: web (W1:80 and its dynamic range
1025-1125 for port 21) through the two-armed firewall fw to the loopback
server app with copies to ids; web-tls (W1:443) through fw to the alias
server app2; natted (W2:80) to the NAT server natsrv listening on 8080, with
an ACL and DSCP 46; dns (W3:53/udp) to app.
"""
import pytest
from scapy.all import ARP, IP, TCP, UDP, Ether, IPv6, Raw

from conftest import (APP, APP2, C1, C6, C_BAD, DEFINITIONS, FW0, FW1, GW, IDS, NAT6, NAT_ADDR,
                      NATSRV, STRANGER, W1, W2, W3, W6, Case, check_case, frm, out, run_case)


def syn(src, dst, sport, dport, **ip):
    return IP(src=src, dst=dst, **ip) / TCP(sport=sport, dport=dport, flags='S', seq=1000) / \
        Raw(b'hello')


def rewritten(frame, port, mac, ip=None, l4=None):
    """out() plus field changes, with the checksums left for scapy to compute."""
    p = out(frame, port, mac)
    net = p[IP] if IP in p else p[IPv6]
    for k, v in (ip or {}).items():
        setattr(net, k, v)
    if IP in p:
        p[IP].chksum = None
    for layer in (TCP, UDP):
        if layer in p:
            for k, v in (l4 or {}).items():
                setattr(p[layer], k, v)
            p[layer].chksum = None
    return p


# forward and reply frames of web:80 at each step
F_CLI = frm('cli', GW) / syn(C1, W1, 40000, 80)
F_FW = frm('dev2', FW1) / syn(C1, W1, 40000, 80)
R_APP = frm('dev2', APP) / syn(W1, C1, 80, 40000)
R_FW = frm('dev', FW0) / syn(W1, C1, 80, 40000)

N_CLI = frm('cli', GW) / syn(C1, W2, 40001, 80, tos=0x01)
N_SRV = frm('dev2', NATSRV) / syn(NAT_ADDR, C1, 8080, 40001)

CASES = [
    Case('forward_to_firewall', 'a client packet goes to the firewall outside arm, unchanged',
         [('cli', F_CLI)], {'dev': [out(F_CLI, 'dev', FW0)]},
         {'forward': 1, 'tx': 1, 'service web 80': (1, len(F_CLI))}),
    Case('firewall_to_loopback_server_with_copy',
         'from the firewall inside arm to the loopback server, a copy to the IDS first',
         [('dev2', F_FW)], {'dev2': [out(F_FW, 'dev2', IDS), out(F_FW, 'dev2', APP)]},
         {'forward': 1, 'copies': 1, 'device ids': (1, len(F_FW)),
          'device app': (1, len(F_FW))}),
    Case('reply_from_server_reverse_order',
         'the server reply is copied to the IDS and goes to the firewall inside arm',
         [('dev2', R_APP)], {'dev2': [out(R_APP, 'dev2', IDS), out(R_APP, 'dev2', FW1)]},
         {'reply': 1, 'copies': 1}),
    Case('reply_from_firewall_to_router', 'the last reply step goes to the clients\' router',
         [('dev', R_FW)], {'cli': [out(R_FW, 'cli', GW)]}, {'reply': 1}),
    Case('whole_chain_both_directions', 'all four steps of one exchange in one run',
         [('cli', F_CLI), ('dev2', F_FW), ('dev2', R_APP), ('dev', R_FW)],
         {'dev': [out(F_CLI, 'dev', FW0)],
          'dev2': [out(F_FW, 'dev2', IDS), out(F_FW, 'dev2', APP), out(R_APP, 'dev2', IDS),
                   out(R_APP, 'dev2', FW1)],
          'cli': [out(R_FW, 'cli', GW)]},
         {'forward': 2, 'reply': 2, 'copies': 2, 'tx': 6,
          'service web 80': (4, 4 * len(F_CLI))}),
    Case('second_port_other_server_alias',
         'port 443 of the same service address reaches the alias server',
         [('dev2', frm('dev2', FW1) / syn(C1, W1, 40002, 443))],
         {'dev2': [out(frm('dev2', FW1) / syn(C1, W1, 40002, 443), 'dev2', APP2)]},
         {'forward': 1, 'copies': 0}),
    Case('nat_and_port_translation_forward',
         'the NAT server sees its own address and port; DSCP 46 is set, ECN kept',
         [('cli', N_CLI)],
         {'dev2': [rewritten(N_CLI, 'dev2', NATSRV, ip={'dst': NAT_ADDR, 'tos': 46 << 2 | 1},
                             l4={'dport': 8080})]},
         {'forward': 1}),
    Case('nat_and_port_translation_reply',
         'the client sees the service address and port again',
         [('dev2', N_SRV)],
         {'cli': [rewritten(N_SRV, 'cli', GW, ip={'src': W2, 'tos': 46 << 2},
                            l4={'sport': 80})]},
         {'reply': 1}),
    Case('acl_deny_and_permit', 'the denied client is dropped; another one passes',
         [('cli', frm('cli', GW) / syn(C_BAD, W2, 40003, 80)), ('cli', N_CLI)],
         {'dev2': [rewritten(N_CLI, 'dev2', NATSRV, ip={'dst': NAT_ADDR, 'tos': 46 << 2 | 1},
                             l4={'dport': 8080})]},
         {'acl_deny': 1, 'forward': 1}),
    Case('acl_default_deny', 'a client no rule names is dropped by the default',
         [('cli', frm('cli', GW) / syn('10.7.0.1', W2, 40004, 80))], {}, {'acl_deny': 1}),
    Case('source_mac_refused', 'only the firewall may inject web:80 on its inside segment',
         [('dev2', frm('dev2', STRANGER) / syn(C1, W1, 40000, 80)),
          ('dev2', frm('dev2', IDS) / syn(W1, C1, 80, 40000))],
         {}, {'src_mac_refused': 2, 'forward': 0, 'reply': 0}),
    Case('dynamic_port_range', 'a negotiated port in 1025-1125 follows web; 1126 is unknown',
         [('cli', frm('cli', GW) / syn(C1, W1, 40005, 1100)),
          ('cli', frm('cli', GW) / syn(C1, W1, 40005, 1126))],
         {'dev': [out(frm('cli', GW) / syn(C1, W1, 40005, 1100), 'dev', FW0)]},
         {'forward': 1, 'no_service': 1, 'service web 1025-1125': (1, 59)}),
    Case('udp_service', 'a UDP service, both directions, checksums intact',
         [('cli', frm('cli', GW) / IP(src=C1, dst=W3) / UDP(sport=5353, dport=53) / Raw(b'q')),
          ('dev2', frm('dev2', APP) / IP(src=W3, dst=C1) / UDP(sport=53, dport=5353) /
           Raw(b'a'))],
         {'dev2': [out(frm('cli', GW) / IP(src=C1, dst=W3) / UDP(sport=5353, dport=53) /
                       Raw(b'q'), 'dev2', APP)],
          'cli': [out(frm('dev2', APP) / IP(src=W3, dst=C1) / UDP(sport=53, dport=5353) /
                      Raw(b'a'), 'cli', GW)]},
         {'forward': 1, 'reply': 1}),
    Case('malformed_and_unknown', 'bad headers, non-IP and unknown addresses are counted drops',
         [('cli', Ether(src=GW, dst='02:00:00:00:01:01', type=0x0800) / Raw(b'\x45\x00\x00')),
          ('cli', Ether(src=GW, dst='02:00:00:00:01:01') / IP(src=C1, dst=W1, ihl=4) /
           Raw(b'x' * 30)),
          ('cli', Ether(src=GW, dst='ff:ff:ff:ff:ff:ff') / ARP(pdst=W1)),
          ('cli', frm('cli', GW) / syn(C1, '10.9.0.99', 40006, 80)),
          ('cli', frm('cli', GW) / IP(src=C1, dst=W1, frag=10) / Raw(b'y' * 20))],
         {}, {'malformed': 2, 'not_ip': 1, 'no_service': 1, 'fragment': 1, 'tx': 0}),
    Case('nat_with_partial_checksums',
         'input as a veth with checksum offload gives it; output checksums still right',
         [('cli', N_CLI), ('dev2', N_SRV)],
         {'dev2': [rewritten(N_CLI, 'dev2', NATSRV, ip={'dst': NAT_ADDR, 'tos': 46 << 2 | 1},
                             l4={'dport': 8080})],
          'cli': [rewritten(N_SRV, 'cli', GW, ip={'src': W2, 'tos': 46 << 2},
                            l4={'sport': 80})]},
         {'forward': 1, 'reply': 1}, partial=True),
    Case('sighup_reload', 'new definitions apply from the next packet: web goes to app2 now',
         [('dev2', F_FW, 0.0), ('dev2', F_FW, 2.0)],
         {'dev2': [out(F_FW, 'dev2', IDS), out(F_FW, 'dev2', APP), out(F_FW, 'dev2', APP2)]},
         {'forward': 2, 'copies': 1},
         config={'pcap-real-time': 'true'},
         reload=(1.0, DEFINITIONS.replace(
             'chain: [fw, app]\n    copies: [{receiver: ids, at: app}]', 'chain: [fw, app2]'))),
    Case('ipv6_nat_chain', 'an IPv6 service: client to fw, fw to the NAT server (address, port '
         'and traffic class rewritten), its reply back to fw, unchanged',
         [('cli', frm('cli', GW) / IPv6(src=C6, dst=W6, tc=1) / TCP(sport=40000, dport=443)),
          ('dev2', frm('dev2', FW1) / IPv6(src=C6, dst=W6, tc=1) / TCP(sport=40000, dport=443)),
          ('dev2', frm('dev2', NATSRV) / IPv6(src=NAT6, dst=C6) / TCP(sport=8443, dport=40000))],
         {'dev': [rewritten(frm('cli', GW) / IPv6(src=C6, dst=W6, tc=1) /
                            TCP(sport=40000, dport=443), 'dev', FW0, ip={'tc': 10 << 2 | 1})],
          'dev2': [rewritten(frm('dev2', FW1) / IPv6(src=C6, dst=W6, tc=1) /
                             TCP(sport=40000, dport=443), 'dev2', NATSRV,
                             ip={'dst': NAT6, 'tc': 10 << 2 | 1}, l4={'dport': 8443}),
                   rewritten(frm('dev2', NATSRV) / IPv6(src=NAT6, dst=C6) /
                             TCP(sport=8443, dport=40000), 'dev2', FW1,
                             ip={'src': W6, 'tc': 10 << 2}, l4={'sport': 443})]},
         {'forward': 2, 'reply': 1}),
]


@pytest.mark.parametrize('case', CASES, ids=[c.name for c in CASES])
def test_golden(case):
    outputs, stats, log = run_case(case)
    check_case(case, outputs, stats, log)
