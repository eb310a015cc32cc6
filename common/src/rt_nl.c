// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * rtnetlink: the dump at start (and after an overrun) and the change
 * notifications, parsed into the model.
 *
 * Two sockets. The event socket joins the multicast groups *before* the dump
 * runs on the request socket, so a change that races with the dump is
 * queued on the event socket and applied after it; applying a notification
 * the dump already reflected is harmless (adds replace, deletes of what is
 * gone are ignored), so the model converges to the kernel's state.
 *
 * Every message is hostile until checked: libmnl validates each attribute's
 * length against its type before we read it, and the fixed headers are
 * length-checked first.
 */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/key.h"
#include "common/log.h"
#include "rt-internal.h"

#define RT_MAX_PATHS 64

struct attrs {
	const struct nlattr *a[64];
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct attrs *t = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type < LOOM_ARRAY_SIZE(t->a))
		t->a[type] = attr;
	return MNL_CB_OK;
}

static bool attr_u32(const struct nlattr *a, uint32_t *v)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return false;
	*v = mnl_attr_get_u32(a);
	return true;
}

/* An address attribute of exactly the family's length, IPv4 mapped. */
static bool attr_addr(const struct nlattr *a, int family, uint8_t out[16])
{
	if (!a)
		return false;
	uint16_t len = mnl_attr_get_payload_len(a);

	if (family == AF_INET && len == 4) {
		uint32_t v4;

		memcpy(&v4, mnl_attr_get_payload(a), 4);
		key_addr_from_v4(out, v4);
		return true;
	}
	if (family == AF_INET6 && len == 16) {
		memcpy(out, mnl_attr_get_payload(a), 16);
		return true;
	}
	return false;
}

static int bad(struct rt_table *rt)
{
	rt_ctr_inc(rt, RT_CTR_NL_BAD);
	return -EBADMSG;
}

/* ---- routes ---- */

static int parse_multipath(const struct nlattr *mp, int family, struct rt_path *paths,
			   unsigned *n)
{
	const uint8_t *p = mnl_attr_get_payload(mp);
	size_t left = mnl_attr_get_payload_len(mp);

	*n = 0;
	while (left >= sizeof(struct rtnexthop)) {
		struct rtnexthop nh;

		memcpy(&nh, p, sizeof(nh));
		if (nh.rtnh_len < sizeof(nh) || nh.rtnh_len > left)
			return -EBADMSG;
		if (*n == RT_MAX_PATHS)
			return -E2BIG;
		struct rt_path *pt = &paths[(*n)++];

		memset(pt, 0, sizeof(*pt));
		pt->ifindex = (uint32_t)nh.rtnh_ifindex;
		pt->weight = (uint8_t)(nh.rtnh_hops == 255 ? 255 : nh.rtnh_hops + 1);
		/* Nested attributes of this hop: only RTA_GATEWAY matters. */
		size_t off = RTNH_ALIGN(sizeof(nh));

		while (off + sizeof(struct nlattr) <= nh.rtnh_len) {
			struct nlattr a;

			memcpy(&a, p + off, sizeof(a));
			if (a.nla_len < sizeof(a) || off + a.nla_len > nh.rtnh_len)
				return -EBADMSG;
			if ((a.nla_type & NLA_TYPE_MASK) == RTA_GATEWAY) {
				const struct nlattr *ap = (const struct nlattr *)(const void *)(p + off);

				if (!attr_addr(ap, family, pt->gw))
					return -EBADMSG;
				pt->has_gw = 1;
			} else if ((a.nla_type & NLA_TYPE_MASK) == RTA_VIA) {
				return -EOPNOTSUPP;
			}
			off += NLA_ALIGN(a.nla_len);
		}
		size_t step = RTNH_ALIGN(nh.rtnh_len);

		if (step >= left)
			break;
		p += step;
		left -= step;
	}
	return *n ? 0 : -EBADMSG;
}

static int route_msg(struct rt_table *rt, const struct nlmsghdr *nlh)
{
	const struct rtmsg *rm;
	struct attrs t = { 0 };
	struct rt_rkey k = { 0 };
	struct rt_path paths[RT_MAX_PATHS];
	struct rt_route r = { 0 };
	uint32_t table, oif = 0;
	bool v4;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rm))
		return bad(rt);
	rm = mnl_nlmsg_get_payload(nlh);
	if (rm->rtm_family != AF_INET && rm->rtm_family != AF_INET6)
		return 0;
	v4 = rm->rtm_family == AF_INET;
	if (mnl_attr_parse(nlh, sizeof(*rm), attr_cb, &t) < 0)
		return bad(rt);
	table = rm->rtm_table;
	if (t.a[RTA_TABLE] && !attr_u32(t.a[RTA_TABLE], &table))
		return bad(rt);
	/* Cached clones (IPv6 exceptions, PMTU) are not routes; TOS routes
	 * need the packet's TOS, which a lookup by address does not have;
	 * nexthop objects (RTA_NH_ID) are not mirrored yet. */
	if ((rm->rtm_flags & RTM_F_CLONED) || rm->rtm_tos || t.a[RTA_NH_ID] ||
	    t.a[RTA_VIA] || (table != RT_TABLE_MAIN && table != RT_TABLE_LOCAL) ||
	    rm->rtm_dst_len > (v4 ? 32 : 128)) {
		rt_ctr_inc(rt, RT_CTR_ROUTES_IGNORED);
		return 0;
	}
	switch (rm->rtm_type) {
	case RTN_UNICAST:
	case RTN_LOCAL:
	case RTN_BROADCAST:
	case RTN_ANYCAST:
	case RTN_BLACKHOLE:
	case RTN_UNREACHABLE:
	case RTN_PROHIBIT:
	case RTN_THROW:
		break;
	default: /* multicast, nat, xresolve... */
		rt_ctr_inc(rt, RT_CTR_ROUTES_IGNORED);
		return 0;
	}
	k.tid = (uint8_t)(table == RT_TABLE_LOCAL ? (v4 ? RT_T4_LOCAL : RT_T6_LOCAL)
						  : (v4 ? RT_T4_MAIN : RT_T6_MAIN));
	k.len = rm->rtm_dst_len;
	if (t.a[RTA_DST]) {
		if (!attr_addr(t.a[RTA_DST], rm->rtm_family, k.dst))
			return bad(rt);
	} else if (v4) {
		key_addr_from_v4(k.dst, 0);
	}
	if (t.a[RTA_PRIORITY] && !attr_u32(t.a[RTA_PRIORITY], &r.priority))
		return bad(rt);
	if (t.a[RTA_OIF] && !attr_u32(t.a[RTA_OIF], &oif))
		return bad(rt);
	r.type = rm->rtm_type;
	r.paths = paths;
	if (t.a[RTA_MULTIPATH]) {
		unsigned n;
		int e = parse_multipath(t.a[RTA_MULTIPATH], rm->rtm_family, paths, &n);

		if (e == -EOPNOTSUPP) {
			rt_ctr_inc(rt, RT_CTR_ROUTES_IGNORED);
			return 0;
		}
		if (e < 0)
			return bad(rt);
		r.npaths = (uint8_t)n;
	} else if (rm->rtm_type == RTN_UNICAST || oif) {
		memset(paths, 0, sizeof(paths[0]));
		paths[0].ifindex = oif;
		paths[0].weight = 1;
		if (t.a[RTA_GATEWAY]) {
			if (!attr_addr(t.a[RTA_GATEWAY], rm->rtm_family, paths[0].gw))
				return bad(rt);
			paths[0].has_gw = 1;
		}
		r.npaths = 1;
	}
	if (nlh->nlmsg_type == RTM_DELROUTE) {
		(void)rt_model_route_del(rt, &k, &r);
		return 0;
	}
	return rt_model_route_add(rt, &k, &r);
}

/* ---- links ---- */

static int link_msg(struct rt_table *rt, const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi;
	struct attrs t = { 0 };
	struct rt_mlink l = { 0 };

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return bad(rt);
	ifi = mnl_nlmsg_get_payload(nlh);
	if (ifi->ifi_index <= 0)
		return bad(rt);
	if (nlh->nlmsg_type == RTM_DELLINK)
		return rt_model_link_del(rt, (uint32_t)ifi->ifi_index);
	if (mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, &t) < 0)
		return bad(rt);
	l.ifindex = (uint32_t)ifi->ifi_index;
	l.flags = ifi->ifi_flags;
	if (t.a[IFLA_IFNAME]) {
		if (mnl_attr_validate(t.a[IFLA_IFNAME], MNL_TYPE_NUL_STRING) < 0)
			return bad(rt);
		strncpy(l.name, mnl_attr_get_str(t.a[IFLA_IFNAME]), sizeof(l.name) - 1);
	}
	if (t.a[IFLA_MTU] && !attr_u32(t.a[IFLA_MTU], &l.mtu))
		return bad(rt);
	if (t.a[IFLA_ADDRESS]) {
		uint16_t len = mnl_attr_get_payload_len(t.a[IFLA_ADDRESS]);

		l.l2len = len;
		if (len == 6)
			memcpy(l.mac, mnl_attr_get_payload(t.a[IFLA_ADDRESS]), 6);
	}
	if (t.a[IFLA_OPERSTATE] && mnl_attr_validate(t.a[IFLA_OPERSTATE], MNL_TYPE_U8) == 0)
		l.operstate = mnl_attr_get_u8(t.a[IFLA_OPERSTATE]);
	/* A notification may omit attributes that did not change: keep what we
	 * knew rather than forget the name or MAC. */
	for (size_t i = 0; i < rt->m.nlinks; i++) {
		const struct rt_mlink *o = &rt->m.links[i];

		if (o->ifindex != l.ifindex)
			continue;
		if (!t.a[IFLA_IFNAME])
			memcpy(l.name, o->name, sizeof(l.name));
		if (!t.a[IFLA_MTU])
			l.mtu = o->mtu;
		if (!t.a[IFLA_ADDRESS]) {
			l.l2len = o->l2len;
			memcpy(l.mac, o->mac, 6);
		}
	}
	return rt_model_link_set(rt, &l);
}

static int addr_msg(struct rt_table *rt, const struct nlmsghdr *nlh)
{
	const struct ifaddrmsg *ifa;
	struct attrs t = { 0 };
	struct rt_addr a = { 0 };

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return bad(rt);
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, &t) < 0)
		return bad(rt);
	/* IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on a
	 * point-to-point IPv4 link, and the address on IPv6. */
	const struct nlattr *at = t.a[IFA_LOCAL] ? t.a[IFA_LOCAL] : t.a[IFA_ADDRESS];

	if (!attr_addr(at, ifa->ifa_family, a.addr) ||
	    ifa->ifa_prefixlen > (ifa->ifa_family == AF_INET ? 32 : 128))
		return bad(rt);
	a.ifindex = ifa->ifa_index;
	a.prefix_len = ifa->ifa_prefixlen;
	if (nlh->nlmsg_type == RTM_DELADDR) {
		(void)rt_model_addr_del(rt, &a);
		return 0;
	}
	return rt_model_addr_add(rt, &a);
}

static int neigh_msg(struct rt_table *rt, const struct nlmsghdr *nlh)
{
	const struct ndmsg *nd;
	struct attrs t = { 0 };
	struct rt_nkey k = { 0 };
	const uint8_t *mac = NULL;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nd))
		return bad(rt);
	nd = mnl_nlmsg_get_payload(nlh);
	if (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*nd), attr_cb, &t) < 0)
		return bad(rt);
	if (nd->ndm_ifindex <= 0 || !attr_addr(t.a[NDA_DST], nd->ndm_family, k.addr))
		return bad(rt);
	k.ifindex = (uint32_t)nd->ndm_ifindex;
	if (t.a[NDA_LLADDR] && mnl_attr_get_payload_len(t.a[NDA_LLADDR]) == 6)
		mac = mnl_attr_get_payload(t.a[NDA_LLADDR]);
	if (nlh->nlmsg_type == RTM_DELNEIGH) {
		(void)rt_model_neigh_del(rt, &k);
		return 0;
	}
	return rt_model_neigh_set(rt, &k, nd->ndm_state, mac);
}

int rt_nl_apply(struct rt_table *rt, const struct nlmsghdr *nlh)
{
	switch (nlh->nlmsg_type) {
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		return route_msg(rt, nlh);
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return link_msg(rt, nlh);
	case RTM_NEWADDR:
	case RTM_DELADDR:
		return addr_msg(rt, nlh);
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		return neigh_msg(rt, nlh);
	default:
		return 0;
	}
}

static int apply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rt_table *rt = data;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) {
		errno = EINTR;
		return MNL_CB_ERROR;
	}
	/* A malformed message is counted and skipped; only memory failure
	 * stops the dump. */
	if (rt_nl_apply(rt, nlh) == -ENOMEM) {
		errno = ENOMEM;
		return MNL_CB_ERROR;
	}
	rt_ctr_inc(rt, RT_CTR_NL_MSGS);
	return MNL_CB_OK;
}

/* ---- sockets ---- */

int rt_nl_open(struct rt_table *rt)
{
	unsigned groups[] = {
		RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
		RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_NEIGH,
	};
	int fd, sz;

	rt->ev_nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	rt->req_nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!rt->ev_nl || !rt->req_nl)
		return -errno;
	if (mnl_socket_bind(rt->ev_nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(rt->req_nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(groups); i++)
		if (mnl_socket_setsockopt(rt->ev_nl, NETLINK_ADD_MEMBERSHIP, &groups[i],
					  sizeof(groups[i])) < 0)
			return -errno;
	fd = mnl_socket_get_fd(rt->ev_nl);
	sz = (int)rt->cfg.rcvbuf;
	/* FORCE lifts rmem_max when we have CAP_NET_ADMIN; else best effort. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* The strict checking makes the kernel filter dumps by family for us
	 * and reject malformed requests instead of guessing. */
	int one = 1;

	(void)setsockopt(mnl_socket_get_fd(rt->req_nl), SOL_NETLINK, NETLINK_GET_STRICT_CHK,
			 &one, sizeof(one));
	return 0;
}

void rt_nl_close(struct rt_table *rt)
{
	if (rt->ev_nl)
		mnl_socket_close(rt->ev_nl);
	if (rt->req_nl)
		mnl_socket_close(rt->req_nl);
	rt->ev_nl = rt->req_nl = NULL;
}

static int dump_one(struct rt_table *rt, uint16_t type, uint8_t family)
{
	char req[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	uint32_t portid = mnl_socket_get_portid(rt->req_nl), seq = ++rt->seq;
	int r;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	switch (type) {
	case RTM_GETLINK: {
		struct ifinfomsg *m = mnl_nlmsg_put_extra_header(nlh, sizeof(*m));

		m->ifi_family = family;
		break;
	}
	case RTM_GETADDR: {
		struct ifaddrmsg *m = mnl_nlmsg_put_extra_header(nlh, sizeof(*m));

		m->ifa_family = family;
		break;
	}
	case RTM_GETROUTE: {
		struct rtmsg *m = mnl_nlmsg_put_extra_header(nlh, sizeof(*m));

		m->rtm_family = family;
		break;
	}
	default: {
		struct ndmsg *m = mnl_nlmsg_put_extra_header(nlh, sizeof(*m));

		m->ndm_family = family;
		break;
	}
	}
	if (mnl_socket_sendto(rt->req_nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(rt->req_nl, rt->buf, rt->buf_size);

		if (n < 0)
			return -errno;
		errno = 0;
		r = mnl_cb_run(rt->buf, (size_t)n, seq, portid, apply_cb, rt);
		if (r == MNL_CB_STOP)
			return 0;
		if (r < 0) {
			/* NLM_F_DUMP_INTR: the table changed under the dump;
			 * drain what is left of it, then say "retry". */
			int err = errno ? -errno : -EINTR;

			while (r != MNL_CB_STOP && err == -EINTR) {
				n = mnl_socket_recvfrom(rt->req_nl, rt->buf, rt->buf_size);
				if (n < 0)
					break;
				r = mnl_cb_run(rt->buf, (size_t)n, seq, portid, NULL, NULL);
				if (r < 0)
					break;
			}
			return err;
		}
	}
}

int rt_nl_dump_all(struct rt_table *rt)
{
	static const struct {
		uint16_t type;
		uint8_t family;
	} dumps[] = {
		{ RTM_GETLINK, AF_UNSPEC },  { RTM_GETADDR, AF_INET },
		{ RTM_GETADDR, AF_INET6 },   { RTM_GETROUTE, AF_INET },
		{ RTM_GETROUTE, AF_INET6 },  { RTM_GETNEIGH, AF_INET },
		{ RTM_GETNEIGH, AF_INET6 },
	};
	int r = 0;

	/* A dump interrupted by changes is retried from scratch a few times. */
	for (int attempt = 0; attempt < 5; attempt++) {
		rt_model_clear(rt);
		r = 0;
		for (size_t i = 0; i < LOOM_ARRAY_SIZE(dumps) && r == 0; i++)
			r = dump_one(rt, dumps[i].type, dumps[i].family);
		if (r != -EINTR)
			break;
	}
	return r;
}

int rt_nl_resync(struct rt_table *rt)
{
	int fd = rt->ev_nl ? mnl_socket_get_fd(rt->ev_nl) : -1;

	rt_ctr_inc(rt, RT_CTR_RESYNCS);
	/*
	 * Discard what is queued: the dump supersedes it. Emptying the queue
	 * also clears the kernel's "congested" mark on the socket, which
	 * otherwise keeps dropping new notifications.
	 */
	while (fd >= 0 && (recv(fd, rt->buf, rt->buf_size, MSG_DONTWAIT) >= 0 || errno == ENOBUFS ||
			   errno == EINTR))
		;
	return rt_nl_dump_all(rt);
}

int rt_nl_read_events(struct rt_table *rt, unsigned budget, bool *drained)
{
	unsigned done = 0;

	*drained = false;
	while (done < budget) {
		ssize_t n = recv(mnl_socket_get_fd(rt->ev_nl), rt->buf, rt->buf_size, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				*drained = true;
				return 0;
			}
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* Notifications were lost: what we hold may be
				 * wrong in any way. Start over from a dump; the
				 * socket keeps its later notifications. */
				return rt_nl_resync(rt);
			}
			return -errno;
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(const void *)rt->buf;
		int len = (int)n;

		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (rt_nl_apply(rt, nlh) == -ENOMEM)
				return -ENOMEM;
			rt_ctr_inc(rt, RT_CTR_NL_MSGS);
			done++;
		}
	}
	return 0;
}
