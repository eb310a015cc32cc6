// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ACL lookup cost in loom-pkt-engine (issue 6, done means 5): RULES rules
 * across SERVICES services, checked the engine's way (the hashed step
 * lookup on the service address, then that service's own short rule list)
 * against one linear list of every rule (service address, client prefix,
 * port), first match wins. Both give the same verdicts (checked); the
 * figures are nanoseconds per packet and the ratio. Never asserts a timing.
 *
 *   bench_engine_acl [SERVICES [RULES_PER_SERVICE [LOOKUPS]]]
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/key.h"
#include "common/sequence.h"

struct linear_rule {
	uint8_t svc[16];
	uint8_t addr[16], mask[16];
	uint16_t port_lo, port_hi;
	uint8_t action;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static void v4(uint8_t out[16], uint32_t host_order)
{
	key_addr_from_v4(out, htonl(host_order));
}

static bool masked_eq(const uint8_t *a, const uint8_t *net, const uint8_t *mask)
{
	for (unsigned i = 0; i < 16; i++)
		if ((a[i] & mask[i]) != net[i])
			return false;
	return true;
}

/* The baseline: every rule of every service in one list. */
static bool linear_permit(const struct linear_rule *r, size_t n, const uint8_t svc[16],
			  const uint8_t saddr[16], uint16_t dport)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(r[i].svc, svc, 16) && dport >= r[i].port_lo && dport <= r[i].port_hi &&
		    masked_eq(saddr, r[i].addr, r[i].mask))
			return r[i].action == SEQ_ACL_PERMIT;
	return true; /* every service's default: permit */
}

int main(int argc, char **argv)
{
	uint32_t nsvc = argc > 1 ? (uint32_t)atoi(argv[1]) : 1000;
	uint32_t per = argc > 2 ? (uint32_t)atoi(argv[2]) : 10;
	uint32_t nlook = argc > 3 ? (uint32_t)atoi(argv[3]) : 2000000;
	struct seq_builder *b = seq_builder_new();
	struct linear_rule *lin = calloc((size_t)nsvc * per, sizeof(*lin));
	struct seq_acl_rule *rules = calloc(per, sizeof(*rules));
	uint8_t (*q_svc)[16] = malloc((size_t)nlook * 16);
	uint8_t (*q_src)[16] = malloc((size_t)nlook * 16);
	uint16_t *q_port = malloc((size_t)nlook * sizeof(*q_port));
	static const uint8_t any_mac[6];

	if (!b || !lin || !rules || !q_svc || !q_src || !q_port || !nsvc || !per) {
		fprintf(stderr, "bench_engine_acl: out of memory or bad arguments\n");
		return 1;
	}
	size_t nlin = 0;
	for (uint32_t s = 0; s < nsvc; s++) {
		struct seq_entry e = { .proto = IPPROTO_TCP, .port_lo = 80, .port_hi = 80,
				       .dir = SEQ_DIR_FWD, .egress = 1, .device = SEQ_NONE,
				       .stat = SEQ_NONE };
		v4(e.addr, 0x0a090000u + s);
		/* per service: deny /24s of 10.1.x.0 by port, the last rule a /16 permit */
		for (uint32_t r = 0; r < per; r++) {
			struct seq_acl_rule *ru = &rules[r];
			unsigned len = r + 1 == per ? 16 : 24;
			memset(ru, 0, sizeof(*ru));
			v4(ru->addr, (0x0a010000u + (r << 8)) & (len == 16 ? 0xffff0000u : ~0xffu));
			v4(ru->mask, len == 16 ? 0xffff0000u : 0xffffff00u);
			memset(ru->mask, 0xff, 12);
			ru->port_lo = 80;
			ru->port_hi = 80;
			ru->action = r + 1 == per ? SEQ_ACL_PERMIT : SEQ_ACL_DENY;
			struct linear_rule *l = &lin[nlin++];
			memcpy(l->svc, e.addr, 16);
			memcpy(l->addr, ru->addr, 16);
			memcpy(l->mask, ru->mask, 16);
			l->port_lo = 80;
			l->port_hi = 80;
			l->action = ru->action;
		}
		int set = seq_add_acl_set(b, SEQ_ACL_PERMIT, rules, per);
		if (set < 0)
			return 1;
		e.acl = (uint32_t)set;
		if (seq_add_entry(b, &e, NULL, 0, NULL) < 0)
			return 1;
	}
	size_t len = seq_builder_size(b);
	void *block = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct seq_view v;
	if (!block || seq_builder_write(b, block, len, 1, 0) < 0 || seq_view_init(&v, block, len))
		return 1;
	for (uint32_t i = 0; i < nlook; i++) {
		v4(q_svc[i], 0x0a090000u + rnd() % nsvc);
		v4(q_src[i], 0x0a010000u + (rnd() % (per * 256)));
		q_port[i] = 80;
	}

	/* the same verdicts, or the comparison means nothing */
	uint64_t denied = 0;
	for (uint32_t i = 0; i < nlook && i < 100000; i++) {
		enum seq_miss miss;
		const struct seq_entry *e = seq_lookup(&v, 0, SEQ_DIR_FWD, q_svc[i], IPPROTO_TCP,
						       q_port[i], any_mac, &miss);
		bool a = e && seq_acl_permit(&v, e->acl, q_src[i], IPPROTO_TCP, q_port[i]);
		bool l = linear_permit(lin, nlin, q_svc[i], q_src[i], q_port[i]);
		if (!e || a != l) {
			fprintf(stderr, "bench_engine_acl: verdicts differ at query %u\n", i);
			return 1;
		}
		denied += !a;
	}

	uint64_t t0 = now_ns(), sink = 0;
	for (uint32_t i = 0; i < nlook; i++) {
		enum seq_miss miss;
		const struct seq_entry *e = seq_lookup(&v, 0, SEQ_DIR_FWD, q_svc[i], IPPROTO_TCP,
						       q_port[i], any_mac, &miss);
		sink += e && seq_acl_permit(&v, e->acl, q_src[i], IPPROTO_TCP, q_port[i]);
	}
	double eng_ns = (double)(now_ns() - t0) / nlook;
	/* the linear list is slow: a tenth of the lookups gives a stable figure */
	uint32_t nlin_look = nlook / 10 ? nlook / 10 : 1;
	t0 = now_ns();
	for (uint32_t i = 0; i < nlin_look; i++)
		sink += linear_permit(lin, nlin, q_svc[i], q_src[i], q_port[i]);
	double lin_ns = (double)(now_ns() - t0) / nlin_look;

	printf("ACL lookup, %u rules across %u services (%" PRIu64 " of 100000 sampled denied)\n",
	       nsvc * per, nsvc, denied);
	printf("  engine (hashed step, the service's own rules): %8.1f ns/packet\n", eng_ns);
	printf("  linear rule list:                              %8.1f ns/packet\n", lin_ns);
	printf("  ratio linear/engine: %.0fx (checksum %" PRIu64 ")\n", lin_ns / eng_ns, sink);
	free(block);
	seq_builder_free(b);
	free(lin);
	free(rules);
	free(q_svc);
	free(q_src);
	free(q_port);
	return 0;
}
