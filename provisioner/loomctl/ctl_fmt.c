// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Text for loomctl: addresses, prefixes, actions, durations, and the column
 * printer. Everything here works on private copies (see ctl_read.c), and
 * every buffer is written with snprintf into its stated length.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"
#include "common/msg.h"
#include "ctl.h"

void ctl_addr(const uint8_t a[16], char *buf, size_t len)
{
	if (key_addr_is_v4(a))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

void ctl_addr_port(const uint8_t a[16], uint16_t port_be, char *buf, size_t len)
{
	char s[CTL_ADDR_LEN];

	ctl_addr(a, s, sizeof(s));
	snprintf(buf, len, key_addr_is_v4(a) ? "%s:%u" : "[%s]:%u", s, ntohs(port_be));
}

/* Leading one bits of mask[from..16), or -1 if a one follows a zero. */
static int ones(const uint8_t mask[16], unsigned from)
{
	int n = 0;
	bool zero = false;

	for (unsigned i = from; i < 16; i++) {
		for (int b = 7; b >= 0; b--) {
			bool one = mask[i] >> b & 1;
			if (one && zero)
				return -1;
			if (one)
				n++;
			else
				zero = true;
		}
	}
	return n;
}

int ctl_mask_len(const uint8_t addr[16], const uint8_t mask[16])
{
	static const uint8_t v4pfx[12] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	/* an IPv4-mapped address under a mask covering the mapping prefix is
	 * an IPv4 prefix: ::ffff:10.9.0.0/120 is 10.9.0.0/24 */
	if (key_addr_is_v4(addr) && !memcmp(mask, v4pfx, 12))
		return ones(mask, 12);
	return ones(mask, 0);
}

void ctl_prefix(const uint8_t addr[16], const uint8_t mask[16], char *buf, size_t len)
{
	static const uint8_t zero[16];
	char a[CTL_ADDR_LEN], m[CTL_ADDR_LEN];
	int n;

	if (!memcmp(mask, zero, 16)) {
		snprintf(buf, len, "any");
		return;
	}
	ctl_addr(addr, a, sizeof(a));
	n = ctl_mask_len(addr, mask);
	if (n >= 0) {
		snprintf(buf, len, "%s/%d", a, n);
		return;
	}
	/* not a prefix: show the mask itself, in the address's family */
	if (key_addr_is_v4(addr))
		inet_ntop(AF_INET, mask + 12, m, sizeof(m));
	else
		inet_ntop(AF_INET6, mask, m, sizeof(m));
	snprintf(buf, len, "%s/%s", a, m);
}

const char *ctl_proto_name(uint8_t proto, char *buf, size_t len)
{
	switch (proto) {
	case 0: return "any";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMPV6: return "icmpv6";
	case IPPROTO_SCTP: return "sctp";
	default:
		snprintf(buf, len, "%u", proto);
		return buf;
	}
}

static const struct {
	uint16_t bit;
	const char *name;
} int_names[] = {
	{ MSG_INT_FIN, "fin" },   { MSG_INT_SYN, "syn" },
	{ MSG_INT_RST, "rst" },   { MSG_INT_PSH, "psh" },
	{ MSG_INT_ACK, "ack" },   { MSG_INT_URG, "urg" },
	{ MSG_INT_DATA, "data" }, { MSG_INT_FIRST_DATA, "first-data" },
	{ MSG_INT_FRAGMENT, "fragment" }, { MSG_INT_ALL, "all" },
};

void ctl_int_bits(uint16_t bits, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!bits) {
		loom_appendf(buf, len, &off, "-");
		return;
	}
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(int_names); i++)
		if (bits & int_names[i].bit)
			loom_appendf(buf, len, &off, "%s%s", off ? "," : "", int_names[i].name);
	if (bits & ~MSG_INT_VALID)
		loom_appendf(buf, len, &off, "%s0x%x", off ? "," : "", bits & ~MSG_INT_VALID);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* "10.2.0.11:8080", "10.2.0.11", ":8080" as NAT rewrites them. */
static void nat_side(char *buf, size_t len, size_t *off, const char *tag, bool has_addr,
		     const uint8_t addr[16], bool has_port, uint16_t port_be)
{
	char a[CTL_ADDR_LEN];

	if (!has_addr && !has_port)
		return;
	loom_appendf(buf, len, off, " %s=", tag);
	if (has_addr) {
		ctl_addr(addr, a, sizeof(a));
		loom_appendf(buf, len, off, key_addr_is_v4(addr) || !has_port ? "%s" : "[%s]", a);
	}
	if (has_port)
		loom_appendf(buf, len, off, ":%u", ntohs(port_be));
}

#define AFF_F_KNOWN (AFF_F_DISPATCH | AFF_F_INFO | AFF_F_NAT | AFF_F_SEQ | AFF_F_INTEREST | \
		     AFF_F_ADVERTISE)

void ctl_actions(const struct aff_actions *a, const uint8_t *adv_addr, const uint8_t *adv_mask,
		 char *buf, size_t len)
{
	char s[CTL_PREFIX_LEN];
	size_t off = 0;

	buf[0] = '\0';
	if (a->flags & AFF_F_NAT) {
		loom_appendf(buf, len, &off, "nat");
		nat_side(buf, len, &off, "s", a->nat_fields & MSG_NAT_SADDR, a->nat_saddr,
			 a->nat_fields & MSG_NAT_SPORT, a->nat_sport);
		nat_side(buf, len, &off, "d", a->nat_fields & MSG_NAT_DADDR, a->nat_daddr,
			 a->nat_fields & MSG_NAT_DPORT, a->nat_dport);
	}
	if (a->flags & AFF_F_DISPATCH) {
		if (all_zero(a->fwd_addr, 16)) {
			loom_appendf(buf, len, &off, "%sdrop", off ? " " : "");
		} else {
			ctl_addr(a->fwd_addr, s, sizeof(s));
			loom_appendf(buf, len, &off, "%sdispatch %s", off ? " " : "", s);
		}
	}
	if (a->flags & AFF_F_INFO) {
		ctl_addr(a->fwd_addr, s, sizeof(s));
		loom_appendf(buf, len, &off, "%sinfo %s", off ? " " : "", s);
	}
	if (a->flags & AFF_F_SEQ)
		loom_appendf(buf, len, &off, "%sseq %+" PRId32 " ack %+" PRId32, off ? " " : "",
		       (int32_t)a->seq_delta, (int32_t)a->ack_delta);
	if (a->flags & AFF_F_INTEREST) {
		ctl_int_bits(a->int_mask, s, sizeof(s));
		loom_appendf(buf, len, &off, "%sinterest %s", off ? " " : "", s);
		const struct {
			const char *tag;
			uint16_t v;
		} vec[] = { { "data", a->int_data }, { "copy", a->int_copy },
			    { "hold", a->int_hold } };
		for (size_t i = 0; i < LOOM_ARRAY_SIZE(vec); i++) {
			if (!vec[i].v)
				continue;
			ctl_int_bits(vec[i].v, s, sizeof(s));
			loom_appendf(buf, len, &off, " %s=%s", vec[i].tag, s);
		}
	}
	if ((a->flags & AFF_F_ADVERTISE) && adv_addr && adv_mask) {
		ctl_prefix(adv_addr, adv_mask, s, sizeof(s));
		loom_appendf(buf, len, &off, "%sadvertise %s", off ? " " : "", s);
	}
	if (a->flags & ~AFF_F_KNOWN)
		loom_appendf(buf, len, &off, "%sflags=0x%x", off ? " " : "",
		       (unsigned)(a->flags & ~AFF_F_KNOWN));
	if (!off)
		loom_appendf(buf, len, &off, "forward");
}

void ctl_duration(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = (ms + 999) / 1000; /* a TTL of 0.2 s left still shows 1s */

	if (s < 60)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s / 3600 % 24);
}

bool ctl_ttl_left(uint64_t expires_ms, uint64_t now_ms, uint64_t *left_ms)
{
	if (expires_ms == 0)
		return false;
	*left_ms = expires_ms > now_ms ? expires_ms - now_ms : 0;
	return true;
}

void ctl_ttl_text(uint64_t expires_ms, uint64_t now_ms, char *buf, size_t len)
{
	uint64_t left;

	if (!ctl_ttl_left(expires_ms, now_ms, &left))
		snprintf(buf, len, "never");
	else if (left == 0)
		snprintf(buf, len, "expired");
	else
		ctl_duration(left, buf, len);
}

uint64_t ctl_age_ms(uint64_t then_ms, uint64_t now_ms)
{
	return now_ms > then_ms ? now_ms - then_ms : 0;
}

uint64_t ctl_idle_ms(const struct ctl_fixed *f, uint64_t now_ms)
{
	uint64_t since_ms, ttl_ms = (uint64_t)f->v.ttl_s * 1000u;

	if (f->last_seen_ns)
		since_ms = f->last_seen_ns / 1000000u;
	else if (f->v.expires_ms >= ttl_ms)
		since_ms = f->v.expires_ms - ttl_ms; /* installed then */
	else
		since_ms = 0;
	/* values from another process: a time in the future is shown as 0 */
	return now_ms > since_ms ? now_ms - since_ms : 0;
}

int ctl_parse_proto(const char *s, uint8_t *proto)
{
	static const struct {
		const char *name;
		uint8_t p;
	} names[] = { { "any", 0 }, { "icmp", IPPROTO_ICMP }, { "tcp", IPPROTO_TCP },
		      { "udp", IPPROTO_UDP }, { "icmpv6", IPPROTO_ICMPV6 },
		      { "sctp", IPPROTO_SCTP } };
	char *end;

	for (size_t i = 0; i < LOOM_ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i].name)) {
			*proto = names[i].p;
			return 0;
		}
	}
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 255 || s[0] == '-')
		return -EINVAL;
	*proto = (uint8_t)v;
	return 0;
}

static int parse_port(const char *s, uint16_t *port_be)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 65535 || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	*port_be = htons((uint16_t)v);
	return 0;
}

int ctl_parse_endpoint(const char *s, uint8_t addr[16], uint16_t *port_be)
{
	char host[INET6_ADDRSTRLEN];
	const char *port = NULL;
	size_t n;
	uint32_t v4;

	*port_be = 0;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return -EINVAL;
		n = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return -EINVAL;
		s++;
	} else {
		const char *colon = strchr(s, ':');
		/* one colon: IPv4 with a port; more: a bare IPv6 address */
		if (colon && !strchr(colon + 1, ':')) {
			n = (size_t)(colon - s);
			port = colon + 1;
		} else {
			n = strlen(s);
		}
	}
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &v4) == 1)
		key_addr_from_v4(addr, v4);
	else if (inet_pton(AF_INET6, host, addr) != 1)
		return -EINVAL;
	return port ? parse_port(port, port_be) : 0;
}

/* ---- errors ---------------------------------------------------------------------- */

int ctl_open_error(const char *instance, const char *seg, const char *daemon,
		   const char *layout, unsigned version, int r)
{
	switch (r) {
	case -ENOENT:
		fprintf(stderr, "loomctl: no %s table for instance '%s' (is %s running?)\n", seg,
			instance, daemon);
		return CTL_EXIT_NOT_FOUND;
	case -EINVAL:
		fprintf(stderr, "loomctl: invalid instance name '%s' (letters, digits, '_' and '-')\n",
			instance);
		return CTL_EXIT_USAGE;
	case -EACCES:
	case -EPERM:
		fprintf(stderr,
			"loomctl: permission denied on /dev/shm/loom.%s.%s (readers need read-write "
			"access to register; is your user in the table's group?)\n",
			instance, seg);
		return CTL_EXIT_FAIL;
	case -EPROTO:
		fprintf(stderr,
			"loomctl: /dev/shm/loom.%s.%s has a layout this loomctl does not understand "
			"(it reads %s layout %u); is loomctl the same version as %s?\n",
			instance, seg, layout, version, daemon);
		return CTL_EXIT_FAIL;
	case -EAGAIN:
		fprintf(stderr, "loomctl: /dev/shm/loom.%s.%s is still being created; try again\n",
			instance, seg);
		return CTL_EXIT_FAIL;
	case -ENOSPC:
		fprintf(stderr, "loomctl: no free reader slot in /dev/shm/loom.%s.%s\n", instance,
			seg);
		return CTL_EXIT_FAIL;
	default:
		fprintf(stderr, "loomctl: /dev/shm/loom.%s.%s: %s\n", instance, seg, strerror(-r));
		return CTL_EXIT_FAIL;
	}
}

/* ---- columns ---------------------------------------------------------------------- */

void ctl_tbl_init(struct ctl_tbl *t, FILE *f, const struct ctl_tbl_col *cols, unsigned ncols)
{
	memset(t, 0, sizeof(*t));
	t->f = f;
	t->cols = cols;
	t->ncols = ncols < CTL_TBL_MAXCOL ? ncols : CTL_TBL_MAXCOL;
	for (unsigned i = 0; i < t->ncols; i++)
		t->width[i] = strlen(cols[i].name);
}

int ctl_tbl_row(struct ctl_tbl *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->cells = p;
		t->cap = cap;
	}
	char **row = &t->cells[t->nrows * t->ncols];
	for (unsigned i = 0; i < t->ncols; i++) {
		row[i] = strdup(cells[i] ? cells[i] : "");
		if (!row[i]) {
			while (i--)
				free(row[i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

static void print_row(const struct ctl_tbl *t, const char *const *cells)
{
	for (unsigned i = 0; i < t->ncols; i++) {
		bool last = i + 1 == t->ncols;
		int w = (int)t->width[i];

		if (t->cols[i].right)
			fprintf(t->f, "%*s", w, cells[i]);
		else if (last)
			fputs(cells[i], t->f); /* no trailing blanks */
		else
			fprintf(t->f, "%-*s", w, cells[i]);
		fputs(last ? "\n" : "  ", t->f);
	}
}

void ctl_tbl_flush(struct ctl_tbl *t)
{
	for (size_t r = 0; r < t->nrows; r++)
		for (unsigned i = 0; i < t->ncols; i++) {
			size_t w = strlen(t->cells[r * t->ncols + i]);
			if (w > t->width[i])
				t->width[i] = w;
		}
	if (!t->header_done) {
		const char *h[CTL_TBL_MAXCOL];
		for (unsigned i = 0; i < t->ncols; i++)
			h[i] = t->cols[i].name;
		print_row(t, h);
		t->header_done = true;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		print_row(t, (const char *const *)&t->cells[r * t->ncols]);
		for (unsigned i = 0; i < t->ncols; i++)
			free(t->cells[r * t->ncols + i]);
	}
	t->nrows = 0;
}

void ctl_tbl_free(struct ctl_tbl *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* ---- segment figures ------------------------------------------------------------------ */

const struct ctl_tbl_col ctl_seg_cols[11] = {
	{ "SEGMENT", false }, { "WRITER", true },   { "GEN", true },
	{ "GP", true },       { "GRACE_PERIODS", true }, { "GP_MEAN", true },
	{ "GP_MAX", true },   { "TIMEOUTS", true }, { "REAPED", true },
	{ "READERS", true },  { "IN_SECTION", true },
};

static void ns_text(uint64_t ns, char *buf, size_t len)
{
	if (ns < 10000)
		snprintf(buf, len, "%" PRIu64 "ns", ns);
	else if (ns < 10000000)
		snprintf(buf, len, "%" PRIu64 "us", ns / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ns / 1000000);
}

void ctl_seg_row(struct ctl_tbl *t, const char *name, const struct ctl_seg_stats *g)
{
	const struct shm_rcu_stats *r = &g->rcu;
	char pid[24], gen[16], gp[24], n[24], mean[24], max[24], to[24], reaped[24], rd[24],
		ins[16];

	snprintf(pid, sizeof(pid), "%d%s", (int)g->writer_pid, g->writer_alive ? "" : " (gone)");
	snprintf(gen, sizeof(gen), "%u", g->generation);
	snprintf(gp, sizeof(gp), "%" PRIu64, r->gp);
	snprintf(n, sizeof(n), "%" PRIu64, r->gp_count);
	ns_text(r->gp_count ? r->gp_total_ns / r->gp_count : 0, mean, sizeof(mean));
	ns_text(r->gp_max_ns, max, sizeof(max));
	snprintf(to, sizeof(to), "%" PRIu64, r->gp_timeouts);
	snprintf(reaped, sizeof(reaped), "%" PRIu64, r->reaped);
	snprintf(rd, sizeof(rd), "%u/%u", r->slots_used, r->slots_total);
	snprintf(ins, sizeof(ins), "%u", r->readers_in_section);
	const char *cells[] = { name, pid, gen, gp, n, mean, max, to, reaped, rd, ins };
	ctl_tbl_row(t, cells);
}
