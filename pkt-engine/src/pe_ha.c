// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Primary and secondary engines: heartbeats, takeover, gratuitous ARP
 * (see pe_ha.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "common/key.h"
#include "common/log.h"
#include "pe_ha.h"
#include "pe_probe.h"

struct pe_ha {
	struct ev_loop *loop;
	const struct pe_config *cfg;
	const uint8_t *port_macs;
	struct pe_dp *dp;
	struct pe_watch *watch;
	bool active;
	uint64_t seq;
	uint64_t last_heard_ms;      /* monotonic: the last heartbeat (or the start) */
	struct ev_handle *beat, *check, *sub_h;
	void *zctx, *sub;
};

static void on_beat(struct ev_loop *loop, void *arg, int what)
{
	struct pe_ha *ha = arg;
	char msg[256];

	(void)loop;
	(void)what;
	snprintf(msg, sizeof(msg), "{\"event\":\"heartbeat\",\"instance\":\"%s\",\"seq\":%" PRIu64
		 ",\"time-ms\":%" PRIu64 "}", ha->cfg->instance, ++ha->seq, pe_real_ms());
	pe_watch_event(ha->watch, msg);
}

/* ---- takeover ---------------------------------------------------------------- */

/* Add addr/prefix (IPv4, network order) to ifindex; an address already there is fine. */
static int add_address(int ifindex, uint32_t addr, unsigned prefix)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
		struct rtattr a1;
		uint32_t local;
		struct rtattr a2;
		uint32_t address;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_NEWADDR,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
			.nlmsg_seq = 1 },
		.ifa = { .ifa_family = AF_INET, .ifa_prefixlen = (uint8_t)prefix,
			 .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = (unsigned)ifindex },
		.a1 = { .rta_len = RTA_LENGTH(4), .rta_type = IFA_LOCAL },
		.local = addr,
		.a2 = { .rta_len = RTA_LENGTH(4), .rta_type = IFA_ADDRESS },
		.address = addr,
	};
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), r = 0;

	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) < 0)
		r = -errno;
	else if (recv(fd, &ack, sizeof(ack), 0) < (ssize_t)sizeof(ack))
		r = -EIO;
	else if (ack.nh.nlmsg_type == NLMSG_ERROR && ack.err.error && ack.err.error != -EEXIST)
		r = ack.err.error;
	close(fd);
	return r;
}

static void announce(int ifindex, const uint8_t mac[6], uint32_t addr)
{
	uint8_t frame[PE_GARP_LEN];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex,
				   .sll_halen = 6 };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		log_errno(-errno, "gratuitous ARP");
		return;
	}
	memset(sll.sll_addr, 0xff, 6);
	pe_garp_frame(frame, mac, addr);
	/* twice: one lost on a busy segment should not leave a neighbour behind */
	for (int i = 0; i < 2; i++)
		if (sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
			log_errno(-errno, "gratuitous ARP on ifindex %d", ifindex);
	close(fd);
}

static void take_over(struct pe_ha *ha, uint64_t silent_ms)
{
	const struct pe_defs *d = &ha->cfg->defs;

	for (unsigned p = 0; p < d->n_interfaces; p++) {
		const struct pe_iface_cfg *f = &d->interfaces[p];
		uint32_t a;
		int ifindex = (int)if_nametoindex(f->name), r;

		if (!key_addr_is_v4(f->address) || !ifindex)
			continue;
		memcpy(&a, f->address + 12, 4);
		if (!a)
			continue;
		if ((r = add_address(ifindex, a, f->prefix > 32 ? 32 : f->prefix)) < 0)
			log_errno(r, "takeover: adding the address of %s", f->name);
		announce(ifindex, ha->port_macs + 6 * p, a);
	}
	atomic_store_explicit(&ha->dp->standby, false, memory_order_relaxed);
	pe_watch_set_active(ha->watch, true);
	ha->active = true;
	ev_cancel(&ha->check);
	ev_cancel(&ha->sub_h);
	log_notice("took over: no heartbeat from the primary for %" PRIu64 " ms", silent_ms);
	char msg[256];
	snprintf(msg, sizeof(msg), "{\"event\":\"takeover\",\"instance\":\"%s\",\"silent-ms\":%"
		 PRIu64 ",\"time-ms\":%" PRIu64 "}", ha->cfg->instance, silent_ms, pe_real_ms());
	pe_watch_event(ha->watch, msg);
	if (ha->cfg->heartbeat_ms &&
	    ev_timer_periodic_add(ha->loop, ha->cfg->heartbeat_ms, on_beat, ha, &ha->beat) < 0)
		log_err("takeover: no heartbeats of our own");
}

static void on_heard(struct ev_loop *loop, void *arg, int what)
{
	struct pe_ha *ha = arg;
	char buf[512];

	(void)loop;
	(void)what;
	/* bounded: the primary's other events pass by too */
	for (int i = 0; i < 64; i++) {
		int n = zmq_recv(ha->sub, buf, sizeof(buf) - 1, ZMQ_DONTWAIT);
		if (n < 0)
			break;
		buf[n < (int)sizeof(buf) - 1 ? n : (int)sizeof(buf) - 1] = '\0';
		if (strstr(buf, "\"event\":\"heartbeat\""))
			ha->last_heard_ms = ev_now_ms();
	}
}

static void on_check(struct ev_loop *loop, void *arg, int what)
{
	struct pe_ha *ha = arg;
	uint64_t silent = ev_now_ms() - ha->last_heard_ms;

	(void)loop;
	(void)what;
	if (silent >= ha->cfg->takeover_ms)
		take_over(ha, silent);
}

static int open_secondary(struct pe_ha *ha)
{
	int linger = 0, r;
	/* a quarter of the takeover time: the decision is late by at most that */
	uint64_t every = ha->cfg->takeover_ms / 4 ? ha->cfg->takeover_ms / 4 : 1;

	if (!(ha->zctx = zmq_ctx_new()) || !(ha->sub = zmq_socket(ha->zctx, ZMQ_SUB)))
		return -ENOMEM;
	zmq_setsockopt(ha->sub, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(ha->sub, ZMQ_SUBSCRIBE, "", 0);
	if (zmq_connect(ha->sub, ha->cfg->primary_control) < 0)
		return log_errno(-zmq_errno(), "primary-control %s", ha->cfg->primary_control);
	atomic_store_explicit(&ha->dp->standby, true, memory_order_relaxed);
	pe_watch_set_active(ha->watch, false);
	ha->last_heard_ms = ev_now_ms();
	if ((r = ev_zmq_reader_add(ha->loop, ha->sub, on_heard, ha, &ha->sub_h)) < 0 ||
	    (r = ev_timer_periodic_add(ha->loop, every, on_check, ha, &ha->check)) < 0)
		return r;
	log_notice("secondary: standing by for the primary at %s", ha->cfg->primary_control);
	return 0;
}

int pe_ha_open(struct pe_ha **out, struct ev_loop *loop, const struct pe_config *cfg,
	       const uint8_t *port_macs, struct pe_dp *dp, struct pe_watch *watch)
{
	struct pe_ha *ha = calloc(1, sizeof(*ha));
	int r = 0;

	if (!ha)
		return -ENOMEM;
	*ha = (struct pe_ha){ .loop = loop, .cfg = cfg, .port_macs = port_macs, .dp = dp,
			      .watch = watch, .active = cfg->role == PE_HA_PRIMARY };
	if (cfg->role == PE_HA_SECONDARY)
		r = open_secondary(ha);
	else if (cfg->heartbeat_ms && cfg->control[0])
		r = ev_timer_periodic_add(loop, cfg->heartbeat_ms, on_beat, ha, &ha->beat);
	if (r < 0) {
		pe_ha_close(ha);
		return r;
	}
	*out = ha;
	return 0;
}

void pe_ha_close(struct pe_ha *ha)
{
	if (!ha)
		return;
	ev_cancel(&ha->beat);
	ev_cancel(&ha->check);
	ev_cancel(&ha->sub_h);
	if (ha->sub)
		zmq_close(ha->sub);
	if (ha->zctx)
		zmq_ctx_term(ha->zctx);
	free(ha);
}
