// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Trial frames, the recorded steps and the report (see pe_trial.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/key.h"
#include "common/pkt.h"
#include "common/pkt_csum.h"
#include "pe_probe.h"
#include "pe_trial.h"

size_t pe_trial_frame(uint8_t *buf, const struct pe_trial_seg *s)
{
	uint16_t tcp_len = s->rst ? 20u : 24u;
	uint8_t *tcp = buf + PE_IPV4_HEAD_LEN;
	uint32_t seq = htonl(s->seq);
	size_t len = PE_IPV4_HEAD_LEN + tcp_len;
	struct pkt_view v;

	memset(tcp, 0, tcp_len);
	pe_ipv4_head(buf, s->dst_mac, s->src_mac, IPPROTO_TCP, tcp_len, s->saddr, s->daddr);
	pkt_store16(tcp, htons(s->sport));
	pkt_store16(tcp + 2, htons(s->dport));
	memcpy(tcp + 4, &seq, 4);
	tcp[12] = (uint8_t)(tcp_len / 4 << 4);
	tcp[13] = s->rst ? 0x04 : 0x02;
	if (!s->rst) {
		pkt_store16(tcp + 14, htons(64240));
		tcp[20] = 2; /* MSS */
		tcp[21] = 4;
		pkt_store16(tcp + 22, htons(PE_TRIAL_MSS));
	}
	/* the checksum the slow path computes (a frame of ours always parses) */
	int c = pkt_parse(buf, (uint32_t)len, &v) < 0 ? -1 : pkt_l4_csum_compute(&v, buf);
	if (c >= 0)
		pkt_store16(tcp + 16, (uint16_t)c);
	return len;
}

unsigned pe_trial_read(const struct pe_trial_slot *t, struct pe_trial_step *out, unsigned max)
{
	uint32_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
	unsigned i;

	for (i = 0; i < n && i < max && i < PE_TRIAL_EVENTS; i++) {
		const struct pe_trial_event *e = &t->ev[i];
		uint64_t ns = atomic_load_explicit(&e->ns, memory_order_acquire);
		if (!ns)
			break; /* claimed, not written yet: the next poll reads it */
		uint64_t mac = atomic_load_explicit(&e->mac, memory_order_relaxed);
		out[i] = (struct pe_trial_step){
			.ns = ns,
			.device = atomic_load_explicit(&e->device, memory_order_relaxed),
			.dir = atomic_load_explicit(&e->dir, memory_order_relaxed),
			.route = atomic_load_explicit(&e->route, memory_order_relaxed),
			.tcp_flags = atomic_load_explicit(&e->tcp_flags, memory_order_relaxed),
		};
		for (unsigned b = 0; b < 6; b++)
			out[i].mac[b] = (uint8_t)(mac >> (8 * b));
	}
	return i;
}

/* The step's place in the chain: the device it went to (forward) or came
 * from (reply); -1 for a device the chain does not hold. */
static int pos_of(const struct pe_trial_chain *c, const struct pe_trial_step *s)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->device[i] == s->device)
			return (int)i;
	return -1;
}

/* How far along the round trip a step is: forward 0..n-1, then reply n-1..0. */
static int progress(const struct pe_trial_chain *c, const struct pe_trial_step *s)
{
	int p = pos_of(c, s);

	if (p < 0)
		return -1;
	return s->dir == SEQ_DIR_FWD ? p : (int)c->n + ((int)c->n - 1 - p);
}

static const char *from_of(const struct pe_trial_chain *c, const struct pe_trial_step *s, int p)
{
	if (s->dir == SEQ_DIR_REPLY)
		return c->name[p];
	return p ? c->name[p - 1] : "client";
}

static const char *to_of(const struct pe_trial_chain *c, const struct pe_trial_step *s, int p)
{
	if (s->dir == SEQ_DIR_FWD)
		return c->name[p];
	return s->route || !p ? "client" : c->name[p - 1];
}

static bool seen(const struct pe_trial_chain *c, const struct pe_trial_step *steps, unsigned n,
		 unsigned dir, unsigned pos)
{
	for (unsigned i = 0; i < n; i++)
		if (steps[i].dir == dir && pos_of(c, &steps[i]) == (int)pos)
			return true;
	return false;
}

static json_t *hops(const struct pe_trial_chain *c, const struct pe_trial_info *info,
		    const struct pe_trial_step *steps, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++) {
		const struct pe_trial_step *s = &steps[i];
		int p = pos_of(c, s);
		bool again = false;

		for (unsigned j = 0; j < i && !again; j++)
			again = steps[j].dir == s->dir && pos_of(c, &steps[j]) == p;
		if (p < 0 || again)
			continue;
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "direction",
						   s->dir == SEQ_DIR_FWD ? "forward" : "reply",
						   "from", from_of(c, s, p), "to", to_of(c, s, p),
						   "us", (json_int_t)(s->ns > info->start_ns ?
							  (s->ns - info->start_ns) / 1000 : 0)));
	}
	return a;
}

static json_t *devices(const struct pe_trial_chain *c, const struct pe_trial_step *steps,
		       unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < c->n; i++) {
		/* the server's verdict is its answer, both ways */
		bool reply = seen(c, steps, n, SEQ_DIR_REPLY, i);
		bool fwd = i + 1 < c->n ? seen(c, steps, n, SEQ_DIR_FWD, i + 1) :
			   reply;
		json_array_append_new(a, json_pack("{s:s, s:b, s:b}", "name", c->name[i],
						   "forward", fwd, "reply", reply));
	}
	return a;
}

static json_t *ipv4_or_null(uint32_t a)
{
	char s[INET_ADDRSTRLEN];

	if (!a || !inet_ntop(AF_INET, &a, s, sizeof(s)))
		return json_null();
	return json_string(s);
}

json_t *pe_trial_report(const struct pe_trial_info *info, const struct pe_trial_chain *chain,
			const struct pe_trial_step *steps, unsigned n)
{
	static const uint8_t zero[16];
	char addr[INET6_ADDRSTRLEN];
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "ok", json_boolean(info->ok));
	json_object_set_new(o, "service", json_string(info->service ? info->service : ""));
	if (memcmp(info->addr, zero, 16))
		json_object_set_new(o, "address",
				    json_string(key_addr_format(info->addr, addr, sizeof(addr))));
	else
		json_object_set_new(o, "address", json_null());
	json_object_set_new(o, "port", json_integer(info->port));
	json_object_set_new(o, "protocol", json_string("tcp"));
	json_object_set_new(o, "client", ipv4_or_null(info->client));
	json_object_set_new(o, "client-port", json_integer(info->client_port));
	json_object_set_new(o, "rtt-us", info->rtt_us < 0 ? json_null() :
					 json_integer((json_int_t)info->rtt_us));
	json_object_set_new(o, "hops", hops(chain, info, steps, n));
	json_object_set_new(o, "devices", devices(chain, steps, n));
	if (!info->ok)
		json_object_set_new(o, "reason", json_string(info->reason ? info->reason : "?"));
	return o;
}

void pe_trial_why_silent(const struct pe_trial_chain *chain, const struct pe_trial_step *steps,
			 unsigned n, unsigned timeout_ms, char *buf, size_t len)
{
	int best = -1;
	const struct pe_trial_step *far = NULL;

	for (unsigned i = 0; i < n; i++) {
		int p = progress(chain, &steps[i]);
		if (p > best) {
			best = p;
			far = &steps[i];
		}
	}
	if (!far) {
		snprintf(buf, len, "no answer within %u ms: the SYN was not steered", timeout_ms);
		return;
	}
	int p = pos_of(chain, far);
	snprintf(buf, len, "no answer within %u ms: the %s went to %s and nothing came back from it",
		 timeout_ms, far->dir == SEQ_DIR_FWD ? "SYN" : "SYN-ACK", to_of(chain, far, p));
}
