// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-mgr-script: a scripted service manager for golden-packet tests of
 * loom-fwd-agent. It binds a ROUTER, waits for one agent, and follows a
 * script line by line (syntax: docs/testing-fwd.md). Everything on the wire
 * goes through the project's codec (common/msg.h), so the tool checks the
 * agent against the protocol as the codec defines it.
 *
 * Every wait is bounded; any unmet expectation, timeout or script error
 * ends the run with exit status 1 and a message naming the script line.
 *
 * Usage: loom-mgr-script [-n NAME] ENDPOINT SCRIPT
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/compiler.h"
#include "common/key.h"
#include "common/msg.h"

#define MAX_LINE 4096
#define MAX_ARGS 64
#define DEFAULT_TIMEOUT_MS 3000
#define MAX_WAIT_MS 20000

static const char *name = "mgr";
static const char *script_path;
static unsigned lineno;

static void *sock, *mon;
static uint8_t peer[256];
static size_t peer_len;
static uint8_t auth_key[32];
static size_t auth_len;
static uint64_t hb_seq;

/* the last packet an interest match carried (kept: the codec points into rx) */
static uint8_t last_pkt[MSG_MAX_PACKET];
static uint32_t last_len;

static uint8_t rxbuf[MSG_MAX_SIZE];
static uint8_t txbuf[MSG_MAX_SIZE];
static struct msg in, out;

static void say(const char *fmt, ...) LOOM_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[%s] ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void fail(const char *fmt, ...) LOOM_PRINTF(1, 2) LOOM_NORETURN;
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[%s] FAILED at %s:%u: ", name, script_path ? script_path : "-", lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- value parsing ---------------------------------------------------------- */

static uint64_t parse_uint(const char *s, uint64_t max, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		fail("%s: '%s' is not a number in 0..%" PRIu64, what, s, max);
	return v;
}

/* ADDR or ADDR/LEN; IPv4 is stored IPv4-mapped and its mask covers the
 * ::ffff: prefix too, so an IPv4 wildcard never matches IPv6. */
static void parse_addr(const char *s, uint8_t addr[16], uint8_t mask[16], bool allow_len)
{
	char buf[80];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned bits, len;
	struct in_addr a4;

	if (n >= sizeof(buf))
		fail("address too long: %s", s);
	memcpy(buf, s, n);
	buf[n] = 0;
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		key_addr_from_v4(addr, a4.s_addr);
		len = slash ? (unsigned)parse_uint(slash + 1, 32, "prefix length") : 32;
		bits = 96 + len;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		bits = slash ? (unsigned)parse_uint(slash + 1, 128, "prefix length") : 128;
	} else {
		fail("not an address: %s", s);
	}
	if (slash && !allow_len)
		fail("no prefix length allowed here: %s", s);
	if (mask) {
		memset(mask, 0, 16);
		for (unsigned i = 0; i < bits; i++)
			mask[i / 8] |= (uint8_t)(0x80u >> (i % 8));
	}
}

static void fmt_addr(const uint8_t a[16], char *buf, size_t len)
{
	static const uint8_t v4pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!memcmp(a, v4pfx, 12))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

static uint8_t parse_proto(const char *s)
{
	static const struct {
		const char *n;
		uint8_t v;
	} p[] = { { "any", 0 }, { "icmp", 1 }, { "tcp", 6 }, { "udp", 17 }, { "icmp6", 58 } };

	for (size_t i = 0; i < LOOM_ARRAY_SIZE(p); i++)
		if (!strcmp(s, p[i].n))
			return p[i].v;
	return (uint8_t)parse_uint(s, 255, "protocol");
}

static const struct {
	const char *n;
	uint16_t bit;
} int_bits[] = {
	{ "FIN", MSG_INT_FIN }, { "SYN", MSG_INT_SYN }, { "RST", MSG_INT_RST },
	{ "PSH", MSG_INT_PSH }, { "ACK", MSG_INT_ACK }, { "URG", MSG_INT_URG },
	{ "DATA", MSG_INT_DATA }, { "FIRST", MSG_INT_FIRST_DATA },
	{ "FRAG", MSG_INT_FRAGMENT }, { "BYTES", MSG_INT_BYTES }, { "ALL", MSG_INT_ALL },
};

/* "FIN|RST", "-" (none) or a number */
static uint16_t parse_bits(const char *s)
{
	char buf[128], *save = NULL;
	uint16_t v = 0;

	if (!strcmp(s, "-") || !*s)
		return 0;
	if (isdigit((unsigned char)s[0]))
		return (uint16_t)parse_uint(s, 0xffff, "interest bits");
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, "|,", &save); t; t = strtok_r(NULL, "|,", &save)) {
		size_t i;
		for (i = 0; i < LOOM_ARRAY_SIZE(int_bits) && strcmp(t, int_bits[i].n); i++)
			;
		if (i == LOOM_ARRAY_SIZE(int_bits))
			fail("unknown interest bit '%s' (FIN SYN RST PSH ACK URG DATA FIRST FRAG BYTES ALL)", t);
		v |= int_bits[i].bit;
	}
	return v;
}

static void fmt_bits(uint16_t v, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(int_bits); i++)
		if (v & int_bits[i].bit)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "|" : "", int_bits[i].n);
	if (!o)
		snprintf(buf, len, "-");
}

static const struct {
	const char *n;
	uint8_t type;
} act_names[] = {
	{ "nat", MSG_S_ACT_NAT }, { "advertise", MSG_S_ACT_ADVERTISE },
	{ "seq-adjust", MSG_S_ACT_SEQ_ADJUST }, { "interest", MSG_S_ACT_INTEREST },
};

static uint8_t parse_action(const char *s)
{
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(act_names); i++)
		if (!strcmp(s, act_names[i].n))
			return act_names[i].type;
	return (uint8_t)parse_uint(s, 255, "action type");
}

static size_t parse_hex(const char *s, uint8_t *dst, size_t cap)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > cap)
		fail("hex string of bad length (max %zu bytes): %s", cap, s);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			fail("not hex: %s", s);
		dst[i] = (uint8_t)v;
	}
	return n / 2;
}

/* ---- packets: the key of a punted packet -------------------------------------- */

struct pkt_info {
	bool ok;
	struct flow_key key;
	uint8_t tcp_flags;
};

static struct pkt_info pkt_parse(const uint8_t *p, uint32_t len)
{
	struct pkt_info pi = { 0 };
	uint32_t l4 = 0;
	bool later = false, echo = false;

	key_init(&pi.key);
	if (len >= 20 && (p[0] >> 4) == 4) {
		uint32_t v4;
		l4 = (p[0] & 15u) * 4u;
		pi.key.proto = p[9];
		memcpy(&v4, p + 12, 4);
		key_addr_from_v4(pi.key.saddr, v4);
		memcpy(&v4, p + 16, 4);
		key_addr_from_v4(pi.key.daddr, v4);
		later = ((p[6] & 0x1fu) << 8 | p[7]) != 0;
		echo = pi.key.proto == IPPROTO_ICMP && len >= l4 + 8 && (p[l4] == 8 || p[l4] == 0);
	} else if (len >= 40 && (p[0] >> 4) == 6) {
		l4 = 40;
		pi.key.proto = p[6];
		memcpy(pi.key.saddr, p + 8, 16);
		memcpy(pi.key.daddr, p + 24, 16);
		if (pi.key.proto == 44 && len >= 48) { /* one fragment header */
			pi.key.proto = p[40];
			later = ((p[42] << 8 | p[43]) & 0xfff8u) != 0;
			l4 = 48;
		}
		echo = pi.key.proto == IPPROTO_ICMPV6 && len >= l4 + 8 &&
		       (p[l4] == 128 || p[l4] == 129);
	} else {
		return pi;
	}
	pi.ok = true;
	if (later)
		return pi;
	if ((pi.key.proto == IPPROTO_TCP || pi.key.proto == IPPROTO_UDP) && len >= l4 + 4) {
		memcpy(&pi.key.sport, p + l4, 2);
		memcpy(&pi.key.dport, p + l4 + 2, 2);
		if (pi.key.proto == IPPROTO_TCP && len >= l4 + 14)
			pi.tcp_flags = p[l4 + 13];
	} else if (echo) {
		memcpy(&pi.key.sport, p + l4 + 4, 2);
	}
	return pi;
}

/* ---- the wire ---------------------------------------------------------------------- */

static void send_out(void)
{
	struct msg_err err;
	size_t len;
	int r = msg_encode(&out, txbuf, sizeof(txbuf), &len, &err);

	if (r < 0) {
		char why[MSG_ERR_STR_LEN];
		fail("cannot encode %s: %s", msg_type_name(out.type),
		     msg_err_str(&err, why, sizeof(why)));
	}
	if (auth_len && msg_sign(txbuf, len, auth_key, auth_len) < 0)
		fail("cannot sign %s", msg_type_name(out.type));
	if (!peer_len)
		fail("no agent yet: 'hello' must come first");
	if (zmq_send(sock, peer, peer_len, ZMQ_SNDMORE) < 0 || zmq_send(sock, txbuf, len, 0) < 0)
		fail("send: %s", zmq_strerror(errno));
	say("sent %s (%zu bytes, %u segments)", msg_type_name(out.type), len, out.nsegs);
}

static void start_out(enum msg_type type)
{
	msg_init(&out, type);
	if (auth_len) {
		struct msg_security *s = &msg_add(&out, MSG_S_SECURITY, true)->u.security;
		s->type = MSG_SEC_HMAC_SHA256;
		s->len = MSG_HMAC_LEN;
	}
}

/*
 * Receive one message into `in` within the deadline; false on timeout.
 * Heartbeats are answered by nobody and skipped here.
 */
static bool recv_in(uint64_t deadline)
{
	for (;;) {
		uint64_t t = now_ms();
		zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
		uint8_t id[256];
		int idn, n, more = 0;
		size_t ml = sizeof(more);
		struct msg_err err;

		if (t >= deadline)
			return false;
		if (zmq_poll(&it, 1, (long)(deadline - t)) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll: %s", zmq_strerror(errno));
		}
		if (!(it.revents & ZMQ_POLLIN))
			continue;
		idn = zmq_recv(sock, id, sizeof(id), 0);
		if (idn < 0 || idn > (int)sizeof(id))
			fail("bad routing frame");
		zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
		if (!more)
			fail("message without a body");
		n = zmq_recv(sock, rxbuf, sizeof(rxbuf), 0);
		if (n < 0 || (size_t)n > sizeof(rxbuf))
			fail("bad message frame");
		if (peer_len && ((size_t)idn != peer_len || memcmp(id, peer, peer_len)))
			fail("a second peer talked to this manager");
		memcpy(peer, id, (size_t)idn);
		peer_len = (size_t)idn;
		int r = auth_len ? msg_decode_verified(rxbuf, (size_t)n, auth_key, auth_len, &in, &err)
				 : msg_decode(rxbuf, (size_t)n, &in, &err);
		if (r < 0) {
			char why[MSG_ERR_STR_LEN];
			fail("the agent sent a message we cannot decode: %s",
			     msg_err_str(&err, why, sizeof(why)));
		}
		if (in.type == MSG_T_HEARTBEAT)
			continue;
		say("received %s", msg_type_name(in.type));
		return true;
	}
}

/* ---- commands ------------------------------------------------------------------------ */

struct args {
	int n;
	char *k[MAX_ARGS];
	char *v[MAX_ARGS];   /* NULL for a bare flag */
	bool used[MAX_ARGS];
};

static const char *arg(struct args *a, const char *k)
{
	for (int i = 0; i < a->n; i++)
		if (!strcmp(a->k[i], k)) {
			a->used[i] = true;
			return a->v[i] ? a->v[i] : "";
		}
	return NULL;
}

static void args_done(const struct args *a)
{
	for (int i = 0; i < a->n; i++)
		if (!a->used[i])
			fail("unknown or misplaced argument '%s'", a->k[i]);
}

static uint64_t timeout_of(struct args *a)
{
	const char *t = arg(a, "timeout");

	return t ? parse_uint(t, MAX_WAIT_MS, "timeout (ms)") : DEFAULT_TIMEOUT_MS;
}

static void cmd_hello(struct args *a)
{
	uint64_t deadline = now_ms() + timeout_of(a);
	const char *want_caps = arg(a, "caps");
	const char *no_caps = arg(a, "nocaps");

	args_done(a);
	if (!recv_in(deadline))
		fail("no hello from the agent");
	if (in.type != MSG_T_HELLO)
		fail("expected hello, got %s", msg_type_name(in.type));
	const struct msg_seg *h = msg_find(&in, MSG_S_HELLO);
	if (!h || h->u.hello.role != MSG_ROLE_FWD_AGENT)
		fail("hello is not from a forwarding agent (role %u)", h ? h->u.hello.role : 0);
	if (h->u.hello.vmin > MSG_VERSION || h->u.hello.vmax < MSG_VERSION)
		fail("agent speaks versions %u..%u", h->u.hello.vmin, h->u.hello.vmax);
	uint64_t caps = h->u.hello.caps;
	for (int pass = 0; pass < 2; pass++) {
		const char *list = pass ? no_caps : want_caps;
		char buf[256], *save = NULL;
		if (!list)
			continue;
		snprintf(buf, sizeof(buf), "%s", list);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			bool has = (caps & MSG_CAP(parse_action(t))) != 0;
			if (has == (pass != 0))
				fail("agent capability %s: expected %s (caps %#" PRIx64 ")", t,
				     pass ? "absent" : "present", caps);
		}
	}
	say("hello from the agent, caps %#" PRIx64, caps);
}

static void cmd_heartbeat(struct args *a)
{
	args_done(a);
	start_out(MSG_T_HEARTBEAT);
	struct msg_heartbeat *h = &msg_add(&out, MSG_S_HEARTBEAT, true)->u.heartbeat;
	h->seq = ++hb_seq;
	h->mono_ms = now_ms();
	send_out();
}

/* Key fields of an affinity: from the arguments, defaulting to `base`. */
static void parse_key(struct args *a, struct flow_key *k, uint8_t smask[16], uint8_t dmask[16],
		      bool wildcard)
{
	const char *s;

	if ((s = arg(a, "proto")))
		k->proto = parse_proto(s);
	if ((s = arg(a, "src")))
		parse_addr(s, k->saddr, smask, wildcard);
	if ((s = arg(a, "dst")))
		parse_addr(s, k->daddr, dmask, wildcard);
	if ((s = arg(a, "sport")))
		k->sport = htons((uint16_t)parse_uint(s, 65535, "sport"));
	if ((s = arg(a, "dport")))
		k->dport = htons((uint16_t)parse_uint(s, 65535, "dport"));
}

static bool in_list(const char *list, const char *item)
{
	char buf[256], *save = NULL;

	if (!list)
		return false;
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (!strcmp(t, item))
			return true;
	return false;
}

/* The optional segments every affinity update may carry. */
static void add_options(struct args *a, bool wildcard)
{
	const char *s, *req = arg(a, "required");
	struct msg_seg *g;

	if ((s = arg(a, "prec"))) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", s);
		char *colon = strchr(buf, ':');
		g = msg_add(&out, MSG_S_SERVICE_PREC, false);
		if (colon) {
			*colon = 0;
			if (!strcmp(colon + 1, "lower"))
				g->u.service_prec.order = MSG_ORDER_LOWER_BETTER;
			else if (strcmp(colon + 1, "higher"))
				fail("prec=VALUE[:higher|:lower]");
		}
		g->u.service_prec.value = (uint32_t)parse_uint(buf, UINT32_MAX, "precedence");
	}
	if ((s = arg(a, "backup")))
		msg_add(&out, MSG_S_BACKUP_PREC, false)->u.backup_prec.value =
			(uint32_t)parse_uint(s, UINT32_MAX, "backup precedence");
	if ((s = arg(a, "identity"))) {
		g = msg_add(&out, MSG_S_IDENTITY, false);
		snprintf(g->u.identity.host, sizeof(g->u.identity.host), "%s", s);
	}
	if ((s = arg(a, "mgrdata"))) {
		g = msg_add(&out, MSG_S_MGR_INTEREST, false);
		g->u.mgr_interest.len = (uint16_t)parse_hex(s, g->u.mgr_interest.data,
							     MSG_MAX_INTEREST);
	}
	if (!wildcard && (s = arg(a, "agentdata"))) {
		g = msg_add(&out, MSG_S_AGENT_INTEREST, false);
		g->u.agent_interest.len = (uint16_t)parse_hex(s, g->u.agent_interest.data,
							       MSG_MAX_INTEREST);
	}
	if ((s = arg(a, "actions"))) {
		char buf[256], *save = NULL;
		g = msg_add(&out, MSG_S_ACTION_LIST, false);
		snprintf(buf, sizeof(buf), "%s", s);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			size_t n = strlen(t);
			struct msg_action_ref *r = &g->u.action_list.a[g->u.action_list.n];
			if (g->u.action_list.n == MSG_MAX_ACTIONS)
				fail("too many actions");
			r->required = n && t[n - 1] == '!';
			if (r->required)
				t[n - 1] = 0;
			r->type = parse_action(t);
			g->u.action_list.n++;
		}
	}
	/* NAT: any subset of the four fields */
	struct msg_nat nat = { 0 };
	if ((s = arg(a, "nat.src"))) {
		nat.present |= MSG_NAT_SADDR;
		parse_addr(s, nat.saddr, NULL, false);
	}
	if ((s = arg(a, "nat.sport"))) {
		nat.present |= MSG_NAT_SPORT;
		nat.sport = htons((uint16_t)parse_uint(s, 65535, "nat.sport"));
	}
	if ((s = arg(a, "nat.dst"))) {
		nat.present |= MSG_NAT_DADDR;
		parse_addr(s, nat.daddr, NULL, false);
	}
	if ((s = arg(a, "nat.dport"))) {
		nat.present |= MSG_NAT_DPORT;
		nat.dport = htons((uint16_t)parse_uint(s, 65535, "nat.dport"));
	}
	if (nat.present)
		msg_add(&out, MSG_S_ACT_NAT, in_list(req, "nat"))->u.nat = nat;
	if ((s = arg(a, "seq"))) {
		uint64_t v[4];
		char buf[128], *save = NULL, *t = NULL;
		snprintf(buf, sizeof(buf), "%s", s);
		for (int i = 0; i < 4; i++) {
			t = strtok_r(i ? NULL : buf, ":", &save);
			if (!t)
				fail("seq=SEQ_DELTA:SEQ_INIT:ACK_DELTA:ACK_INIT");
			v[i] = parse_uint(t, UINT32_MAX, "seq");
		}
		struct msg_seq_adjust *q =
			&msg_add(&out, MSG_S_ACT_SEQ_ADJUST, in_list(req, "seq-adjust"))->u.seq_adjust;
		q->seq_delta = (uint32_t)v[0];
		q->seq_init = (uint32_t)v[1];
		q->ack_delta = (uint32_t)v[2];
		q->ack_init = (uint32_t)v[3];
	}
	if ((s = arg(a, "interest"))) {
		char buf[256], *f[4] = { 0 }, *p = buf;
		snprintf(buf, sizeof(buf), "%s", s);
		for (int i = 0; i < 4; i++) {
			f[i] = p;
			p = strchr(p, ':');
			if (!p && i < 3)
				fail("interest=MASK:DATA:COPY:HOLD");
			if (p)
				*p++ = 0;
		}
		struct msg_interest *it =
			&msg_add(&out, MSG_S_ACT_INTEREST, in_list(req, "interest"))->u.interest;
		it->mask = parse_bits(f[0]);
		it->data = parse_bits(f[1]);
		it->copy = parse_bits(f[2]);
		it->hold = parse_bits(f[3]);
		if ((s = arg(a, "interest.addr")))
			parse_addr(s, it->addr, NULL, false);
		if ((s = arg(a, "interest.port")))
			it->port = htons((uint16_t)parse_uint(s, 65535, "interest.port"));
		if ((s = arg(a, "interest.bytes"))) {
			it->present |= MSG_INTEREST_BYTES;
			it->bytes = (uint32_t)parse_uint(s, UINT32_MAX, "interest.bytes");
		}
	}
	if (wildcard && (s = arg(a, "advertise"))) {
		struct msg_advertise *ad =
			&msg_add(&out, MSG_S_ACT_ADVERTISE, in_list(req, "advertise"))->u.advertise;
		parse_addr(s, ad->addr, ad->mask, true);
		if (strchr(s, '/'))
			ad->present = MSG_ADV_MASK;
	}
}

static void set_forward(struct args *a, bool *dispatch, bool *info, uint8_t fwd[16], uint32_t *ttl)
{
	const char *s;

	*dispatch = arg(a, "dispatch") != NULL;
	*info = arg(a, "info") != NULL;
	if ((s = arg(a, "forward")))
		parse_addr(s, fwd, NULL, false);
	*ttl = (s = arg(a, "ttl")) ? (uint32_t)parse_uint(s, MSG_MAX_TTL, "ttl") : 60;
}

static void cmd_wildcard(struct args *a)
{
	start_out(MSG_T_UPDATE_WILDCARD);
	struct msg_wildcard *w = &msg_add(&out, MSG_S_WILDCARD, true)->u.wildcard;
	key_init(&w->key);
	/* an unset address matches any of the family of the other one (IPv4:
	 * ::ffff:0.0.0.0/96), IPv4 when neither is set */
	const char *sa = arg(a, "src"), *da = arg(a, "dst");
	const char *any = (sa && strchr(sa, ':')) || (da && strchr(da, ':')) ? "::/0" : "0.0.0.0/0";
	parse_addr(any, w->key.saddr, w->smask, true);
	parse_addr(any, w->key.daddr, w->dmask, true);
	parse_key(a, &w->key, w->smask, w->dmask, true);
	set_forward(a, &w->dispatch, &w->info, w->forward, &w->ttl);
	add_options(a, true);
	args_done(a);
	send_out();
}

static void attach_packet(struct args *a)
{
	const char *s = arg(a, "packet");

	if (!s)
		return;
	struct msg_ip_packet *ip = &msg_add(&out, MSG_S_IP_PACKET, false)->u.ip_packet;
	if (!strcmp(s, "last")) {
		if (!last_len)
			fail("packet=last: no packet was punted yet");
		ip->data = last_pkt;
		ip->len = last_len;
	} else {
		static uint8_t hex[2048];
		ip->len = (uint32_t)parse_hex(s, hex, sizeof(hex));
		ip->data = hex;
	}
}

static void cmd_fixed(struct args *a, const struct flow_key *base)
{
	start_out(MSG_T_UPDATE_FIXED);
	struct msg_fixed *f = &msg_add(&out, MSG_S_FIXED, true)->u.fixed;
	const char *from = arg(a, "key");

	if (base) {
		f->key = *base;
	} else if (from) {
		/* key=last / key=last-reverse: the flow of the last punted packet */
		struct pkt_info pi = pkt_parse(last_pkt, last_len);
		if (!last_len || !pi.ok)
			fail("key=%s: no IP packet was punted yet", from);
		if (!strcmp(from, "last"))
			f->key = pi.key;
		else if (!strcmp(from, "last-reverse"))
			key_reverse(&f->key, &pi.key);
		else
			fail("key=last or key=last-reverse");
	} else {
		key_init(&f->key);
	}
	parse_key(a, &f->key, NULL, NULL, false);
	set_forward(a, &f->dispatch, &f->info, f->forward, &f->ttl);
	add_options(a, false);
	attach_packet(a);
	args_done(a);
	char ks[KEY_FMT_LEN];
	say("fixed affinity %s ttl %u", key_format(&f->key, ks, sizeof(ks)), f->ttl);
	send_out();
}

static void cmd_packet(struct args *a)
{
	start_out(MSG_T_IP_PACKET);
	if (!arg(a, "packet")) {
		a->k[a->n] = (char *)(uintptr_t)"packet";
		a->v[a->n++] = (char *)(uintptr_t)"last";
	}
	attach_packet(a);
	args_done(a);
	send_out();
}

static bool type_is(const char *want, uint8_t type)
{
	if (!strcmp(want, "match"))
		return type == MSG_T_MATCH_WILDCARD || type == MSG_T_MATCH_FIXED;
	if (!strcmp(want, "match-wildcard"))
		return type == MSG_T_MATCH_WILDCARD;
	if (!strcmp(want, "match-fixed"))
		return type == MSG_T_MATCH_FIXED;
	if (!strcmp(want, "deny"))
		return type == MSG_T_UPDATE_DENY;
	if (!strcmp(want, "error"))
		return type == MSG_T_ERROR;
	if (!strcmp(want, "hello"))
		return type == MSG_T_HELLO;
	fail("unknown message kind '%s' (match match-wildcard match-fixed deny error hello)", want);
}

static void check_addr(const char *what, const char *want, const uint8_t got[16])
{
	uint8_t w[16];
	char gs[64];

	parse_addr(want, w, NULL, false);
	if (memcmp(w, got, 16)) {
		fmt_addr(got, gs, sizeof(gs));
		fail("%s: expected %s, got %s", what, want, gs);
	}
}

static void check_port(const char *what, const char *want, uint16_t got_be)
{
	uint64_t w = parse_uint(want, 65535, what);

	if (w != ntohs(got_be))
		fail("%s: expected %" PRIu64 ", got %u", what, w, ntohs(got_be));
}

/* Checks on the key fields (affinity identifier or packet) under a prefix. */
static void check_key(struct args *a, const char *pfx, const struct flow_key *k)
{
	static const char *const f[] = { "src", "dst", "sport", "dport", "proto" };
	char name_[32];
	const char *s;

	for (size_t i = 0; i < LOOM_ARRAY_SIZE(f); i++) {
		snprintf(name_, sizeof(name_), "%s.%s", pfx, f[i]);
		if (!(s = arg(a, name_)))
			continue;
		if (i == 0)
			check_addr(name_, s, k->saddr);
		else if (i == 1)
			check_addr(name_, s, k->daddr);
		else if (i == 2)
			check_port(name_, s, k->sport);
		else if (i == 3)
			check_port(name_, s, k->dport);
		else if (parse_proto(s) != k->proto)
			fail("%s: expected %s, got %u", name_, s, k->proto);
	}
}

/* Wait for a message of a kind and check it. */
static void expect(struct args *a, const char *kind)
{
	uint64_t deadline = now_ms() + timeout_of(a);
	const char *s;
	char got[64], want[64];

	if (!recv_in(deadline))
		fail("timed out waiting for %s", kind);
	if (!type_is(kind, in.type)) {
		const struct msg_seg *e = msg_find(&in, MSG_S_ERROR);
		fail("expected %s, got %s%s%s", kind, msg_type_name(in.type), e ? ": " : "",
		     e ? e->u.error.text : "");
	}
	const struct msg_seg *ip = msg_find(&in, MSG_S_IP_PACKET);
	if (ip) {
		memcpy(last_pkt, ip->u.ip_packet.data, ip->u.ip_packet.len);
		last_len = ip->u.ip_packet.len;
	}
	if (in.type == MSG_T_MATCH_WILDCARD || in.type == MSG_T_MATCH_FIXED) {
		const struct msg_affinity_id *id = &msg_find(&in, MSG_S_AFFINITY_ID)->u.affinity_id;
		fmt_bits(id->reasons, got, sizeof(got));
		if ((s = arg(a, "reasons")) && parse_bits(s) != id->reasons) {
			fmt_bits(parse_bits(s), want, sizeof(want));
			fail("reasons: expected %s, got %s", want, got);
		}
		if ((s = arg(a, "has")) && (parse_bits(s) & id->reasons) != parse_bits(s))
			fail("reasons: expected at least %s, got %s", s, got);
		check_key(a, "key", &id->key);
		say("interest match: reasons %s, %s", got, ip ? "with the packet" : "no packet");
	}
	if (arg(a, "data") && !ip)
		fail("expected the packet with the message");
	if (arg(a, "nodata") && ip)
		fail("expected no packet with the message");
	if (ip) {
		struct pkt_info pi = pkt_parse(ip->u.ip_packet.data, ip->u.ip_packet.len);
		if (!pi.ok && (arg(a, "pkt.src") || arg(a, "pkt.dst")))
			fail("the packet is not IP");
		check_key(a, "pkt", &pi.key);
		if ((s = arg(a, "pkt.len")) && parse_uint(s, 65535, "pkt.len") != ip->u.ip_packet.len)
			fail("pkt.len: expected %s, got %u", s, ip->u.ip_packet.len);
	}
	if ((s = arg(a, "mgrdata"))) {
		uint8_t w[MSG_MAX_INTEREST];
		size_t n = parse_hex(s, w, sizeof(w));
		const struct msg_seg *d = msg_find(&in, MSG_S_MGR_INTEREST);
		if (!d || d->u.mgr_interest.len != n || memcmp(d->u.mgr_interest.data, w, n))
			fail("manager interest data: expected %s", s);
	}
	if ((s = arg(a, "denies"))) {
		const struct msg_seg *l = msg_find(&in, MSG_S_ACTION_LIST);
		char buf[256], *save = NULL;
		unsigned n = 0;
		if (!l)
			fail("update-deny without an action list");
		snprintf(buf, sizeof(buf), "%s", s);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), n++) {
			uint8_t ty = parse_action(t);
			unsigned j;
			for (j = 0; j < l->u.action_list.n && l->u.action_list.a[j].type != ty; j++)
				;
			if (j == l->u.action_list.n)
				fail("update-deny does not name %s", t);
		}
		if (n != l->u.action_list.n)
			fail("update-deny names %u actions, expected %u", l->u.action_list.n, n);
	}
	if ((s = arg(a, "code"))) {
		const struct msg_seg *e = msg_find(&in, MSG_S_ERROR);
		if (!e || e->u.error.code != parse_uint(s, 65535, "code"))
			fail("error code: expected %s", s);
	}
}

static void cmd_expect(struct args *a)
{
	if (a->n < 1 || a->v[0])
		fail("expect KIND [checks]");
	a->used[0] = true;
	expect(a, a->k[0]);
	args_done(a);
}

/* The first-packet exchange: the next interest match with its packet, answered
 * with a fixed affinity for that packet's flow carrying the packet back. */
static void cmd_reply(struct args *a)
{
	struct args e = { 0 };
	const char *s;

	/* the checks belong to the wait, the rest to the fixed affinity */
	for (int i = 0; i < a->n; i++) {
		if (!strncmp(a->k[i], "pkt.", 4) || !strncmp(a->k[i], "key.", 4) ||
		    !strcmp(a->k[i], "reasons") || !strcmp(a->k[i], "has") ||
		    !strcmp(a->k[i], "timeout") || !strcmp(a->k[i], "expect")) {
			e.k[e.n] = a->k[i];
			e.v[e.n++] = a->v[i];
			a->used[i] = true;
		}
	}
	s = arg(&e, "expect");
	expect(&e, s ? s : "match");
	args_done(&e);
	if (!last_len)
		fail("the interest match carried no packet to return");
	struct pkt_info pi = pkt_parse(last_pkt, last_len);
	if (!pi.ok)
		fail("the punted packet is not IP");
	a->k[a->n] = (char *)(uintptr_t)"packet";
	a->v[a->n++] = (char *)(uintptr_t)"last";
	cmd_fixed(a, &pi.key);
}

static void cmd_quiet(struct args *a)
{
	if (a->n < 1 || a->v[0])
		fail("quiet MS");
	a->used[0] = true;
	uint64_t ms = parse_uint(a->k[0], MAX_WAIT_MS, "quiet (ms)");
	args_done(a);
	if (recv_in(now_ms() + ms))
		fail("expected nothing for %" PRIu64 " ms, got %s", ms, msg_type_name(in.type));
}

static void cmd_sleep(struct args *a)
{
	if (a->n < 1 || a->v[0])
		fail("sleep MS");
	a->used[0] = true;
	uint64_t ms = parse_uint(a->k[0], 10000, "sleep (ms)");
	args_done(a);
	usleep((useconds_t)(ms * 1000u));
}

static void cmd_auth(struct args *a)
{
	if (a->n < 1 || a->v[0])
		fail("auth HEXKEY");
	a->used[0] = true;
	auth_len = parse_hex(a->k[0], auth_key, sizeof(auth_key));
	if (auth_len < 16)
		fail("auth key: 16 to 32 bytes");
	args_done(a);
}

static void run_line(char *line)
{
	struct args a = { 0 };
	char *save = NULL, *cmd;

	char *hash = strchr(line, '#');
	if (hash)
		*hash = 0;
	cmd = strtok_r(line, " \t\r\n", &save);
	if (!cmd)
		return;
	for (char *t = strtok_r(NULL, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (a.n == MAX_ARGS - 2)
			fail("too many arguments");
		char *eq = strchr(t, '=');
		a.k[a.n] = t;
		a.v[a.n] = NULL;
		if (eq) {
			*eq = 0;
			a.v[a.n] = eq + 1;
		}
		a.n++;
	}
	if (!strcmp(cmd, "hello"))
		cmd_hello(&a);
	else if (!strcmp(cmd, "heartbeat"))
		cmd_heartbeat(&a);
	else if (!strcmp(cmd, "wildcard"))
		cmd_wildcard(&a);
	else if (!strcmp(cmd, "fixed"))
		cmd_fixed(&a, NULL);
	else if (!strcmp(cmd, "reply"))
		cmd_reply(&a);
	else if (!strcmp(cmd, "packet"))
		cmd_packet(&a);
	else if (!strcmp(cmd, "expect"))
		cmd_expect(&a);
	else if (!strcmp(cmd, "quiet"))
		cmd_quiet(&a);
	else if (!strcmp(cmd, "sleep"))
		cmd_sleep(&a);
	else if (!strcmp(cmd, "auth"))
		cmd_auth(&a);
	else
		fail("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
	int opt;
	char line[MAX_LINE];

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt == 'n') {
			name = optarg;
		} else {
			fprintf(stderr, "usage: %s [-n NAME] ENDPOINT SCRIPT\n", argv[0]);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: %s [-n NAME] ENDPOINT SCRIPT\n", argv[0]);
		return 2;
	}
	script_path = argv[optind + 1];
	FILE *f = fopen(script_path, "r");
	if (!f) {
		fprintf(stderr, "[%s] %s: %s\n", name, script_path, strerror(errno));
		return 2;
	}
	void *ctx = zmq_ctx_new();
	sock = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
	if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &(int){ 1000 }, sizeof(int)) < 0 ||
	    zmq_bind(sock, argv[optind]) < 0) {
		fprintf(stderr, "[%s] bind %s: %s\n", name, argv[optind], zmq_strerror(errno));
		return 2;
	}
	if (zmq_socket_monitor(sock, "inproc://mgr-script-mon", ZMQ_EVENT_DISCONNECTED) < 0 ||
	    !(mon = zmq_socket(ctx, ZMQ_PAIR)) || zmq_connect(mon, "inproc://mgr-script-mon") < 0) {
		fprintf(stderr, "[%s] socket monitor: %s\n", name, zmq_strerror(errno));
		return 2;
	}
	say("bound %s, running %s", argv[optind], script_path);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			fail("line too long");
		run_line(line);
	}
	fclose(f);
	say("script done; waiting for the agent to hang up");
	/* Stay until the agent disconnects: what we sent last (often the
	 * heartbeat that lets the agent start) is only sure to be read by
	 * then, and anything but a heartbeat from it now is unexpected. */
	uint64_t deadline = now_ms() + 30000;
	for (;;) {
		zmq_pollitem_t it[2] = { { .socket = sock, .events = ZMQ_POLLIN },
					 { .socket = mon, .events = ZMQ_POLLIN } };
		uint64_t t = now_ms();
		if (t >= deadline)
			fail("the agent did not hang up within 30 s");
		if (zmq_poll(it, 2, (long)(deadline - t)) < 0 && errno != EINTR)
			fail("poll: %s", zmq_strerror(errno));
		if (it[0].revents & ZMQ_POLLIN) {
			if (recv_in(now_ms() + 1))
				fail("unexpected %s after the end of the script", msg_type_name(in.type));
		}
		if (it[1].revents & ZMQ_POLLIN) {
			uint8_t ev[6];
			char addr[256];
			uint16_t event;
			int more = 0;
			size_t ml = sizeof(more);
			if (zmq_recv(mon, ev, sizeof(ev), 0) != (int)sizeof(ev))
				continue;
			zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &ml);
			if (more)
				(void)zmq_recv(mon, addr, sizeof(addr), 0);
			memcpy(&event, ev, sizeof(event));
			if (event == ZMQ_EVENT_DISCONNECTED)
				break;
		}
	}
	say("agent gone; done");
	zmq_close(mon);
	zmq_close(sock);
	zmq_ctx_term(ctx);
	return 0;
}
