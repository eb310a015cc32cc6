// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Table-driven packet tests: every row of tests/fixtures/packets/cases.tsv
 * (written by tests/fixtures/gen_packets.py) names a pcap holding the input
 * packet and, when the operation succeeds, scapy's expected output. The
 * operation runs on a heap copy of exactly the packet's size, so any read
 * past the end is an ASan error.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pkt.h"
#include "pcap_read.h"

struct row {
	char name[64];
	char op[16];
	char args[512];
	char verdict[48];
	char desc[256];
};

static const struct {
	const char *name;
	int err;
} err_names[] = {
#define X(n, s) { #n, n },
	PKT_ERR_LIST(X)
#undef X
};

static int verdict_code(const char *s)
{
	if (strcmp(s, "ok") == 0)
		return 0;
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(err_names); i++)
		if (strcmp(s, err_names[i].name) == 0)
			return -err_names[i].err;
	cr_assert_fail("unknown verdict %s", s);
	return 1;
}

/* Load cases.tsv into rows; shared: cr_malloc'ed, as parameterized tests
 * need (the parameters outlive the process that built them). */
static size_t load_rows(struct row **out, bool shared)
{
	FILE *fp = fopen(FIXTURES_DIR "/packets/cases.tsv", "r");
	char line[1024];
	size_t n = 0, cap = 256;
	struct row *rows = shared ? cr_malloc(cap * sizeof(*rows)) : malloc(cap * sizeof(*rows));

	cr_assert_not_null(fp, "cannot open cases.tsv");
	while (fgets(line, sizeof(line), fp)) {
		char *f[5], *save = NULL, *tok;
		int nf = 0;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\n")] = 0;
		for (tok = strtok_r(line, "\t", &save); tok && nf < 5; tok = strtok_r(NULL, "\t", &save))
			f[nf++] = tok;
		cr_assert_eq(nf, 5, "malformed row %zu", n);
		cr_assert_lt(n, cap);
		struct row *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "%s", f[0]);
		snprintf(r->op, sizeof(r->op), "%s", f[1]);
		snprintf(r->args, sizeof(r->args), "%s", strcmp(f[2], "-") ? f[2] : "");
		snprintf(r->verdict, sizeof(r->verdict), "%s", f[3]);
		snprintf(r->desc, sizeof(r->desc), "%s", f[4]);
	}
	fclose(fp);
	*out = rows;
	return n;
}

/* Value of key in "k=v;k=v"; false when absent. */
static bool arg(const char *args, const char *key, char *val, size_t n)
{
	size_t kl = strlen(key);
	const char *p = args;

	while (*p) {
		const char *end = strchr(p, ';');
		size_t l = end ? (size_t)(end - p) : strlen(p);

		if (l > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			snprintf(val, n, "%.*s", (int)(l - kl - 1), p + kl + 1);
			return true;
		}
		p += l + (end ? 1 : 0);
	}
	return false;
}

static bool arg_u32(const char *args, const char *key, uint32_t *v)
{
	char s[32];

	if (!arg(args, key, s, sizeof(s)))
		return false;
	*v = (uint32_t)strtoll(s, NULL, 0); /* negative deltas wrap mod 2^32 */
	return true;
}

static void parse_addr(const char *s, uint8_t out[16])
{
	uint32_t a;

	if (inet_pton(AF_INET, s, &a) == 1)
		key_addr_from_v4(out, a);
	else
		cr_assert_eq(inet_pton(AF_INET6, s, out), 1, "bad address %s", s);
}

/* Build a translation from args named prefix+"saddr" etc. */
static void nat_from_args(const char *args, const char *prefix, struct pkt_nat *nat)
{
	static const char *const names[] = { "saddr", "daddr", "sport", "dport" };
	static const uint32_t bits[] = { PKT_NAT_SADDR, PKT_NAT_DADDR, PKT_NAT_SPORT,
					 PKT_NAT_DPORT };
	char key[32], val[64];

	memset(nat, 0, sizeof(*nat));
	for (unsigned i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "%s%s", prefix, names[i]);
		if (!arg(args, key, val, sizeof(val)))
			continue;
		nat->present |= bits[i];
		if (i == 0)
			parse_addr(val, nat->saddr);
		else if (i == 1)
			parse_addr(val, nat->daddr);
		else if (i == 2)
			nat->sport = htons((uint16_t)atoi(val));
		else
			nat->dport = htons((uint16_t)atoi(val));
	}
}

static unsigned flags_from_names(const char *s)
{
	static const struct {
		const char *n;
		unsigned f;
	} map[] = {
		{ "vlan", PKT_F_VLAN }, { "opts", PKT_F_IPV4_OPTS }, { "ext", PKT_F_IPV6_EXT },
		{ "frag", PKT_F_FRAG }, { "later", PKT_F_FRAG_LATER }, { "more", PKT_F_FRAG_MORE },
		{ "l4", PKT_F_L4 }, { "icmperr", PKT_F_ICMP_ERR }, { "echo", PKT_F_ICMP_ECHO },
		{ "rtsegs", PKT_F_IPV6_RT_SEGS },
	};
	char buf[160], *save = NULL;
	unsigned f = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < LOOM_ARRAY_SIZE(map) && strcmp(map[i].n, t); i++)
			;
		cr_assert_lt(i, LOOM_ARRAY_SIZE(map), "unknown flag %s", t);
		f |= map[i].f;
	}
	return f;
}

static void check_view(const struct row *r, const struct pkt_view *v, const uint8_t *buf)
{
	char val[160], got[KEY_FMT_LEN];
	uint32_t n;

	if (arg(r->args, "key", val, sizeof(val))) {
		struct flow_key k;

		cr_assert_eq(pkt_key(v, buf, &k), 0, "%s: pkt_key", r->name);
		cr_expect_str_eq(key_format(&k, got, sizeof(got)), val, "%s: key", r->name);
	}
	if (arg(r->args, "flags", val, sizeof(val)))
		cr_expect_eq(v->flags, flags_from_names(val), "%s: flags %#x", r->name, v->flags);
	if (arg_u32(r->args, "len", &n))
		cr_expect_eq(v->len, n, "%s: len %u", r->name, v->len);
	if (arg_u32(r->args, "proto", &n))
		cr_expect_eq(v->l4_proto, n, "%s: proto", r->name);
	if (arg_u32(r->args, "family", &n))
		cr_expect_eq(v->family, n, "%s: family", r->name);
	if (arg_u32(r->args, "vlans", &n))
		cr_expect_eq(v->n_vlan, n, "%s: vlans", r->name);
}

static int l4_csum_off(const struct pkt_view *v)
{
	return v->l4_proto == 6 ? 16 : v->l4_proto == 17 ? 6 : 2;
}

/* buflen is the whole frame, Ethernet padding included, as a receive ring
 * hands it over. */
static int run_op(const struct row *r, uint8_t *buf, uint32_t buflen, struct pkt_view *v)
{
	char val[160], got[KEY_FMT_LEN];
	struct pkt_nat nat;
	int rc;

	if (strcmp(r->op, "nat") == 0) {
		nat_from_args(r->args, "", &nat);
		if (arg(r->args, "partial", val, sizeof(val))) {
			rc = pkt_view_set_csum_partial(v, v->l4_off, (uint16_t)l4_csum_off(v));
			if (rc)
				return rc;
		}
		return pkt_rewrite(buf, v, &nat);
	}
	if (strcmp(r->op, "ttl") == 0)
		return pkt_ttl_dec(buf, v);
	if (strcmp(r->op, "seq") == 0) {
		struct pkt_seq_adj a = { 0 }; /* an absent delta is 0: no change */

		arg_u32(r->args, "seq_init", &a.seq_init);
		arg_u32(r->args, "seq_delta", &a.seq_delta);
		arg_u32(r->args, "ack_init", &a.ack_init);
		arg_u32(r->args, "ack_delta", &a.ack_delta);
		return pkt_tcp_seq_adjust(buf, v, &a);
	}
	if (strcmp(r->op, "quote") == 0) {
		struct pkt_quote q;
		struct flow_key k;

		rc = pkt_icmp_quote(v, buf, &q, &k);
		if (rc)
			return rc;
		if (arg(r->args, "qkey", val, sizeof(val)))
			cr_expect_str_eq(key_format(&k, got, sizeof(got)), val, "%s: quote key", r->name);
		nat_from_args(r->args, "q_", &nat);
		rc = pkt_icmp_quote_rewrite(buf, v, &q, &nat);
		if (rc)
			return rc;
		nat_from_args(r->args, "", &nat);
		return pkt_rewrite(buf, v, &nat);
	}
	if (strcmp(r->op, "complete") == 0) {
		rc = pkt_view_set_csum_partial(v, v->l4_off, (uint16_t)l4_csum_off(v));
		cr_assert_eq(rc, 0, "%s: set partial", r->name);
		rc = pkt_csum_complete(buf, buflen, v->csum_start, v->csum_offset, v);
		cr_expect_eq(v->flags & PKT_F_CSUM_PARTIAL, 0);
		return rc;
	}
	if (strcmp(r->op, "csum") == 0) {
		cr_assert(arg(r->args, "ip", val, sizeof(val)));
		if (v->family == PKT_IPV4)
			cr_expect_eq(pkt_ipv4_csum_ok(v, buf), strcmp(val, "ok") == 0,
				     "%s: IPv4 header checksum", r->name);
		rc = pkt_l4_csum_verify(v, buf);
		if (rc == 0) {
			int c = pkt_l4_csum_compute(v, buf);
			uint16_t field;

			cr_assert_geq(c, 0);
			memcpy(&field, buf + v->l4_off + l4_csum_off(v), 2);
			if (field) /* UDP over IPv4 without a checksum */
				cr_expect_eq((uint16_t)c, field, "%s: computed checksum", r->name);
		}
		return rc;
	}
	cr_assert_fail("%s: unknown op %s", r->name, r->op);
	return 0;
}

static void hexdiff(const char *name, const uint8_t *a, const uint8_t *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i] != b[i]) {
			cr_log_error("%s: first difference at byte %u: got %02x want %02x", name, i,
				     a[i], b[i]);
			return;
		}
}

static void run_case(const struct row *r)
{
	char path[512];
	struct pcap_file f;
	struct pkt_view v;
	uint8_t *buf;
	int want = verdict_code(r->verdict), rc;

	snprintf(path, sizeof(path), FIXTURES_DIR "/packets/%s.pcap", r->name);
	cr_assert_eq(pcap_read(path, &f), 0, "%s: cannot read %s", r->name, path);
	cr_assert_geq(f.n, 1);
	cr_assert(f.linktype == PCAP_LINK_ETH || f.linktype == PCAP_LINK_RAW);
	buf = malloc(f.pkt[0].len);
	cr_assert_not_null(buf);
	memcpy(buf, f.pkt[0].data, f.pkt[0].len);

	if (f.linktype == PCAP_LINK_ETH)
		rc = pkt_parse(buf, f.pkt[0].len, &v);
	else
		rc = pkt_parse_l3(buf, f.pkt[0].len, &v);

	if (strcmp(r->op, "parse") == 0) {
		cr_expect_eq(rc, want, "%s: parse returned %s, want %s", r->name, pkt_err_str(rc),
			     r->verdict);
		if (rc == 0)
			check_view(r, &v, buf);
	} else {
		cr_assert_eq(rc, 0, "%s: parse failed: %s", r->name, pkt_err_str(rc));
		rc = run_op(r, buf, f.pkt[0].len, &v);
		cr_expect_eq(rc, want, "%s: %s returned %s, want %s", r->name, r->op,
			     pkt_err_str(rc), r->verdict);
	}
	/* Expected output, or the input untouched. */
	const struct pcap_pkt *want_pkt = f.n >= 2 ? &f.pkt[1] : &f.pkt[0];
	cr_expect_eq(f.pkt[0].len, want_pkt->len, "%s: length", r->name);
	if (f.pkt[0].len == want_pkt->len && memcmp(buf, want_pkt->data, want_pkt->len)) {
		hexdiff(r->name, buf, want_pkt->data, want_pkt->len);
		cr_expect_fail("%s: output differs from scapy's (%s)", r->name, r->desc);
	}
	free(buf);
	pcap_free(&f);
}

ParameterizedTestParameters(pkt_fixtures, case)
{
	struct row *rows;
	size_t n = load_rows(&rows, true);

	return cr_make_param_array(struct row, rows, n);
}

ParameterizedTest(struct row *r, pkt_fixtures, case)
{
	run_case(r);
}

Test(pkt_fixtures, every_reason_code_has_a_case)
{
	struct row *rows;
	size_t n = load_rows(&rows, false);

	cr_assert_gt(n, 50);
	for (int e = 1; e < PKT__ERR_MAX; e++) {
		bool seen = false;

		for (size_t i = 0; i < n && !seen; i++)
			seen = verdict_code(rows[i].verdict) == -e;
		cr_expect(seen, "no fixture for %s", pkt_err_str(e));
	}
	free(rows);
}

Test(pkt_fixtures, pcap_reader_rejects_garbage)
{
	char path[] = "/tmp/loom-pcap-XXXXXX";
	int fd = mkstemp(path);
	struct pcap_file f;
	/* A valid global header followed by a record claiming 1 MiB. */
	static const uint8_t bad[] = {
		0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff, 0, 0, 1, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0,
	};

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, bad, sizeof(bad)), (ssize_t)sizeof(bad));
	close(fd);
	cr_expect_eq(pcap_read(path, &f), -EINVAL);
	cr_assert_eq(truncate(path, 10), 0);
	cr_expect_eq(pcap_read(path, &f), -EINVAL);
	unlink(path);
}
