// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The XDP program of pktio's "afxdp" back end: one instance per interface.
 *
 * Redirects to the AF_XDP socket of the arriving RX queue only what the
 * forwarder owns: unicast IPv4 and IPv6 frames (no VLAN tag) whose
 * destination is not an address of this host. Everything else goes on to
 * the kernel (XDP_PASS): ARP, IPv6 neighbour discovery (multicast, or
 * unicast to a local or link-local address), broadcast and multicast,
 * other EtherTypes, and packets addressed to the host itself, so the host
 * keeps answering ARP, ping and ssh on the forwarder's interfaces.
 *
 * Maps, filled by user space before the program is attached:
 *   xsks         XSKMAP, RX queue index -> socket. An empty slot (no worker
 *                on that queue yet, or its socket closed) falls back to
 *                XDP_PASS, the default action in bpf_redirect_map's flags.
 *   local_addrs  the host's addresses, IPv6 or v4-mapped IPv6
 *                (::ffff:a.b.c.d), as 16-byte keys.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 64      /* PKTIO_MAX_QUEUES */
#define MAX_LOCAL_ADDRS 1024

struct addr16 {
	__u8 a[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_LOCAL_ADDRS);
	__type(key, struct addr16);
	__type(value, __u8);
} local_addrs SEC(".maps");

static __always_inline int is_local4(__be32 daddr)
{
	struct addr16 k = { .a = { [10] = 0xff, [11] = 0xff } };

	__builtin_memcpy(&k.a[12], &daddr, 4);
	return bpf_map_lookup_elem(&local_addrs, &k) != 0;
}

SEC("xdp")
int loom_xdp_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	/* Broadcast and multicast (ARP requests, neighbour solicitations,
	 * routing protocols) belong to the kernel. */
	if (eth->h_dest[0] & 1)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || is_local4(ip->daddr))
			return XDP_PASS;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct addr16 k;

		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		/* Link-local destinations are never forwarded. */
		if (ip6->daddr.s6_addr[0] == 0xfe && (ip6->daddr.s6_addr[1] & 0xc0) == 0x80)
			return XDP_PASS;
		__builtin_memcpy(k.a, ip6->daddr.s6_addr, 16);
		if (bpf_map_lookup_elem(&local_addrs, &k))
			return XDP_PASS;
	} else {
		return XDP_PASS;
	}
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
