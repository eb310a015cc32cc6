// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Neighbour resolution requests: workers -> control thread -> kernel.
 *
 * Workers must not touch netlink (one socket, one owner) and must not block,
 * so rt_resolve() does two atomic steps: claim the address's rate-limit slot
 * (a compare-and-swap on the time of the last request), then push onto a
 * bounded multi-producer ring (Dmitry Vyukov's sequence-numbered cells). The
 * control thread pops in rt_process() and sends RTM_NEWNEIGH with NTF_USE:
 * the kernel creates the entry if needed and runs its normal resolution
 * (ARP request / neighbour solicitation, retries, FAILED), exactly as if the
 * host itself had a packet for that neighbour. The answer comes back to us
 * as an ordinary RTM_NEWNEIGH notification.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/key.h"
#include "rt-internal.h"

int rt_resolve_init(struct rt_table *rt)
{
	uint32_t n = 1;

	while (n < rt->cfg.resolve_queue)
		n *= 2;
	rt->ring = calloc(n, sizeof(*rt->ring));
	if (!rt->ring)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		atomic_init(&rt->ring[i].seq, i);
	rt->ring_mask = n - 1;
	atomic_init(&rt->ring_head, 0);
	rt->ring_tail = 0;
	return 0;
}

void rt_resolve_fini(struct rt_table *rt)
{
	free(rt->ring);
	rt->ring = NULL;
}

int rt_resolve(struct rt_table *rt, uint32_t ifindex, const uint8_t addr[16])
{
	uint64_t now = rt_now_ms(), h = rt_hash_bytes(addr, 16, ifindex);
	_Atomic uint64_t *slot = &rt->rl[h % RT_RL_SLOTS];
	uint64_t last = atomic_load_explicit(slot, memory_order_relaxed);

	/* +1 so that a slot never used (0) never limits. */
	if ((last && now + 1 - last < rt->cfg.resolve_interval_ms) ||
	    !atomic_compare_exchange_strong_explicit(slot, &last, now + 1, memory_order_relaxed,
						     memory_order_relaxed)) {
		rt_ctr_inc(rt, RT_CTR_RESOLVE_LIMITED);
		return -EALREADY;
	}
	uint64_t pos = atomic_load_explicit(&rt->ring_head, memory_order_relaxed);
	struct rt_req_cell *c;

	for (;;) {
		c = &rt->ring[pos & rt->ring_mask];
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t d = (int64_t)(seq - pos);

		if (d == 0) {
			if (atomic_compare_exchange_weak_explicit(&rt->ring_head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (d < 0) {
			/* Full: give the slot back so a later try is not limited. */
			atomic_store_explicit(slot, 0, memory_order_relaxed);
			rt_ctr_inc(rt, RT_CTR_RESOLVE_FULL);
			return -ENOBUFS;
		} else {
			pos = atomic_load_explicit(&rt->ring_head, memory_order_relaxed);
		}
	}
	c->ifindex = ifindex;
	memcpy(c->addr, addr, 16);
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	rt_ctr_inc(rt, RT_CTR_RESOLVE_QUEUED);
	if (rt->cfg.notify)
		rt->cfg.notify(rt->cfg.notify_arg);
	return 0;
}

static bool ring_pop(struct rt_table *rt, uint32_t *ifindex, uint8_t addr[16])
{
	struct rt_req_cell *c = &rt->ring[rt->ring_tail & rt->ring_mask];
	uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);

	if (seq != rt->ring_tail + 1)
		return false;
	*ifindex = c->ifindex;
	memcpy(addr, c->addr, 16);
	atomic_store_explicit(&c->seq, rt->ring_tail + rt->ring_mask + 1, memory_order_release);
	rt->ring_tail++;
	return true;
}

/* RTM_NEWNEIGH, NLM_F_CREATE, NTF_USE: "use" the entry as the stack would
 * when it has a packet for it, which starts resolution (neigh_event_send). */
static int ask_kernel(struct rt_table *rt, uint32_t ifindex, const uint8_t addr[16])
{
	char buf[8192];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *nd;
	bool v4 = key_addr_is_v4(addr);

	nlh->nlmsg_type = RTM_NEWNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
	nlh->nlmsg_seq = ++rt->seq;
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = v4 ? AF_INET : AF_INET6;
	nd->ndm_ifindex = (int)ifindex;
	nd->ndm_state = NUD_NONE;
	nd->ndm_flags = NTF_USE;
	mnl_attr_put(nlh, NDA_DST, v4 ? 4 : 16, v4 ? addr + 12 : addr);
	if (mnl_socket_sendto(rt->req_nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	/* The kernel handled the request inside sendto(): the ack is queued. */
	ssize_t n = recv(mnl_socket_get_fd(rt->req_nl), buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	int r = mnl_cb_run(buf, (size_t)n, rt->seq, mnl_socket_get_portid(rt->req_nl), NULL, NULL);

	return r < 0 ? -errno : 0;
}

unsigned rt_resolve_drain(struct rt_table *rt, unsigned max)
{
	uint32_t ifindex;
	uint8_t addr[16];
	unsigned n = 0;

	while (n < max && ring_pop(rt, &ifindex, addr)) {
		n++;
		if (!rt->req_nl || ask_kernel(rt, ifindex, addr) < 0)
			rt_ctr_inc(rt, RT_CTR_RESOLVE_ERR);
		else
			rt_ctr_inc(rt, RT_CTR_RESOLVE_SENT);
	}
	return n;
}
