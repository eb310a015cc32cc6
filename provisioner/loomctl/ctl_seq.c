// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loomctl's views of a loom-pkt-engine: `chain list|show`, `device list`
 * and `engine stats`, from the sequence table (loom.<i>.sequence, a
 * snapshot copied whole and validated) and the live statistics
 * (loom.<i>.stats, the workers' lanes summed with relaxed loads). Both are
 * written by another process: everything is checked before it is shown.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sequence.h"
#include "ctl.h"
#include "shm/seg.h"
#include "shm/snap.h"

/* The largest snapshot copied: the engine's snapshot area is 24 MiB for three. */
#define SEQ_COPY_MAX (8u << 20)

struct seq_copy_all {
	void *buf;                /* the snapshot, copied */
	struct seq_view v;        /* over buf */
	uint64_t generation;
	bool have_stats;          /* loom.<i>.stats could be read */
	uint64_t updated_ms;
	uint32_t nctr;
	char ctr_name[SEQ_STATS_CTRS][SEQ_CTR_NAME_LEN + 1];
	uint64_t ctr[SEQ_STATS_CTRS];
	struct { uint64_t packets, bytes; } slot[SEQ_STATS_SLOTS], dev[SEQ_STATS_DEVICES];
	struct {
		uint32_t flags;
		uint64_t sent, answered, rtt_ns, last_ok_ms, changes;
	} health[SEQ_STATS_DEVICES];
};

/* A name from shared memory: terminated, unprintable bytes shown as '?'. */
static void safe_name(const char *in, size_t len, char *out)
{
	size_t i;

	for (i = 0; i < len && in[i]; i++)
		out[i] = isprint((unsigned char)in[i]) ? in[i] : '?';
	out[i] = '\0';
}

static uint64_t ld(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* Sum the lanes of loom.<i>.stats; false if there is no such segment. */
static bool read_stats(const char *instance, struct seq_copy_all *s)
{
	struct shm_seg *seg;
	size_t size;

	if (shm_seg_open_reader(instance, "stats", SEQ_STATS_KIND, SEQ_STATS_VERSION, &seg) < 0)
		return false;
	void *region = shm_seg_region(seg, 0, &size);
	/* the lane count from the geometry (checked at attach), never the header's alone */
	uint64_t geo_lanes = shm_seg_geometry(seg)[0];
	struct seq_stats_hdr *h = region;
	if (!region || size < sizeof(*h) || h->magic != SEQ_STATS_MAGIC ||
	    geo_lanes > SEQ_STATS_LANES || size < seq_stats_size((uint32_t)geo_lanes)) {
		shm_seg_close(seg);
		return false;
	}
	uint32_t nlanes = h->nlanes < geo_lanes ? h->nlanes : (uint32_t)geo_lanes;
	s->nctr = h->nctr < SEQ_STATS_CTRS ? h->nctr : SEQ_STATS_CTRS;
	s->updated_ms = ld(&h->updated_ms);
	for (uint32_t c = 0; c < s->nctr; c++)
		safe_name(h->ctr_name[c], SEQ_CTR_NAME_LEN, s->ctr_name[c]);
	for (uint32_t i = 0; i < SEQ_STATS_DEVICES; i++) {
		struct seq_health *g = &h->health[i];
		s->health[i].flags = atomic_load_explicit(&g->flags, memory_order_relaxed);
		s->health[i].sent = ld(&g->sent);
		s->health[i].answered = ld(&g->answered);
		s->health[i].rtt_ns = ld(&g->rtt_ns);
		s->health[i].last_ok_ms = ld(&g->last_ok_ms);
		s->health[i].changes = ld(&g->changes);
	}
	for (uint32_t l = 0; l < nlanes; l++) {
		struct seq_lane *lane = seq_stats_lane(region, l);
		for (uint32_t c = 0; c < s->nctr; c++)
			s->ctr[c] += ld(&lane->ctr[c]);
		for (uint32_t i = 0; i < SEQ_STATS_SLOTS; i++) {
			s->slot[i].packets += ld(&lane->slot[i].packets);
			s->slot[i].bytes += ld(&lane->slot[i].bytes);
		}
		for (uint32_t i = 0; i < SEQ_STATS_DEVICES; i++) {
			s->dev[i].packets += ld(&lane->device[i].packets);
			s->dev[i].bytes += ld(&lane->device[i].bytes);
		}
	}
	shm_seg_close(seg);
	return true;
}

/* Copy the sequence snapshot in one read-side section, then validate the copy. */
static int read_table(const char *instance, struct seq_copy_all *s)
{
	size_t len;
	int r = ctl_snap_copy(instance, "sequence", SEQ_SNAP_KIND, SEQ_SNAP_VERSION, SEQ_COPY_MAX,
			      &s->buf, &len, &s->generation);

	if (r < 0)
		return r;
	return seq_view_init(&s->v, s->buf, len) < 0 ? -EBADMSG : 0;
}

static void seq_free(struct seq_copy_all *s)
{
	free(s->buf);
	free(s);
}

/* The sequence table (required) and the statistics (if there are any). */
static int load(const char *instance, struct seq_copy_all **out)
{
	struct seq_copy_all *s = calloc(1, sizeof(*s));
	int r;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if ((r = read_table(instance, s)) < 0) {
		seq_free(s);
		return r;
	}
	s->have_stats = read_stats(instance, s);
	*out = s;
	return 0;
}

/* Both segments, or an explanation and the exit code (*out NULL). */
static int open_all(const struct ctl_opts *o, struct seq_copy_all **out)
{
	int r = load(o->instance, out);

	if (r == -ENOMEM) {
		fprintf(stderr, "loomctl: out of memory\n");
		return CTL_EXIT_FAIL;
	}
	if (r == -ENODATA || r == -EBADMSG) {
		fprintf(stderr, "loomctl: loom.%s.sequence: %s\n", o->instance,
			r == -ENODATA ? "nothing published yet" : "the snapshot is invalid");
		return CTL_EXIT_FAIL;
	}
	if (r < 0)
		return ctl_open_error(o->instance, "sequence", "loom-pkt-engine", "sequence",
				      SEQ_SNAP_VERSION, r);
	return CTL_EXIT_OK;
}

/* ---- names -------------------------------------------------------------------- */

static void dev_name(const struct seq_copy_all *s, uint32_t i, char *out)
{
	if (i < s->v.n_devices)
		safe_name(s->v.devices[i].name, SEQ_NAME_LEN, out);
	else
		snprintf(out, SEQ_NAME_LEN + 1, "-");
}

static void mac_text(const uint8_t m[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void ports_text(uint16_t lo, uint16_t hi, char *buf, size_t len)
{
	if (lo == hi)
		snprintf(buf, len, "%u", lo);
	else
		snprintf(buf, len, "%u-%u", lo, hi);
}

static const char *action_text(uint8_t action)
{
	return action == SEQ_ACL_DENY ? "deny" : "permit";
}

static const char *state_text(uint32_t flags)
{
	if (flags & SEQ_H_STANDIN)
		return "down (alternate in place)";
	return flags & SEQ_H_DOWN ? "down" : "up";
}

/* The chain of slot i: its forward steps' devices, in order (the builder
 * adds them in chain order). */
static void chain_text(const struct seq_copy_all *s, uint32_t slot, char *buf, size_t len)
{
	char name[SEQ_NAME_LEN + 1];
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < s->v.n_entries && used < len; i++) {
		const struct seq_entry *e = &s->v.entries[i];
		if (e->stat != slot || e->dir != SEQ_DIR_FWD)
			continue;
		dev_name(s, e->device, name);
		int n = snprintf(buf + used, len - used, "%s%s", used ? " > " : "", name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* ---- chain list / show ------------------------------------------------------------ */

static json_t *j_slot(const struct seq_copy_all *s, uint32_t i)
{
	const struct seq_stat *st = &s->v.stats[i];
	char name[SEQ_NAME_LEN + 1], chain[512], pb[16];
	json_t *o = json_object();

	safe_name(st->service, SEQ_NAME_LEN, name);
	chain_text(s, i, chain, sizeof(chain));
	ctl_json_set(o, "service", json_string(name));
	ctl_json_set(o, "address", ctl_json_addr(st->addr));
	ctl_json_set(o, "protocol", json_string(ctl_proto_name(st->proto, pb, sizeof(pb))));
	ctl_json_set(o, "port", json_integer(st->port));
	ctl_json_set(o, "port-high", json_integer(st->port_hi));
	ctl_json_set(o, "chain", json_string(chain));
	if (s->have_stats && i < SEQ_STATS_SLOTS) {
		ctl_json_set(o, "packets", ctl_json_u64(s->slot[i].packets));
		ctl_json_set(o, "bytes", ctl_json_u64(s->slot[i].bytes));
	}
	return o;
}

static const struct ctl_tbl_col chain_cols[] = {
	{ "SERVICE", false }, { "ADDRESS", false }, { "PROTO", false }, { "PORT", false },
	{ "CHAIN", false },   { "PACKETS", true },  { "BYTES", true },
};

static int chain_row(struct ctl_tbl *t, const struct seq_copy_all *s, uint32_t i)
{
	const struct seq_stat *st = &s->v.stats[i];
	char name[SEQ_NAME_LEN + 1], addr[CTL_ADDR_LEN], pb[16], ports[16], chain[512];
	char pk[24] = "-", by[24] = "-";

	safe_name(st->service, SEQ_NAME_LEN, name);
	ctl_addr(st->addr, addr, sizeof(addr));
	ports_text(st->port, st->port_hi, ports, sizeof(ports));
	chain_text(s, i, chain, sizeof(chain));
	if (s->have_stats && i < SEQ_STATS_SLOTS) {
		snprintf(pk, sizeof(pk), "%" PRIu64, s->slot[i].packets);
		snprintf(by, sizeof(by), "%" PRIu64, s->slot[i].bytes);
	}
	const char *cells[] = { name, addr, ctl_proto_name(st->proto, pb, sizeof(pb)), ports,
				chain, pk, by };
	return ctl_tbl_row(t, cells);
}

/* Slots of service `name` (NULL: all) through `each`. Returns how many. */
static uint32_t for_slots(const struct seq_copy_all *s, const char *name,
			  void (*each)(const struct seq_copy_all *s, uint32_t i, void *arg),
			  void *arg)
{
	char n[SEQ_NAME_LEN + 1];
	uint32_t found = 0;

	for (uint32_t i = 0; i < s->v.n_stats; i++) {
		safe_name(s->v.stats[i].service, SEQ_NAME_LEN, n);
		if (name && strcmp(n, name))
			continue;
		each(s, i, arg);
		found++;
	}
	return found;
}

struct emit {
	struct ctl_json *jw;
	struct ctl_tbl *t;
	int err;
	bool steps;
};

static json_t *j_step(const struct seq_copy_all *s, const struct seq_entry *e)
{
	char name[SEQ_NAME_LEN + 1], mac[20], pb[16];
	json_t *o = json_object();

	dev_name(s, e->device, name);
	ctl_json_set(o, "direction", json_string(e->dir == SEQ_DIR_FWD ? "forward" : "reply"));
	ctl_json_set(o, "device", json_string(name));
	ctl_json_set(o, "ingress", json_integer(e->ingress));
	if (e->flags & SEQ_F_SRC_MAC) {
		mac_text(e->src_mac, mac, sizeof(mac));
		ctl_json_set(o, "from", json_string(mac));
	}
	mac_text(e->dst_mac, mac, sizeof(mac));
	ctl_json_set(o, "to", json_string(mac));
	ctl_json_set(o, "egress", json_integer(e->egress));
	ctl_json_set(o, "mode", json_string(seq_mode_str(e->mode)));
	ctl_json_set(o, "protocol", json_string(ctl_proto_name(e->proto, pb, sizeof(pb))));
	if (e->flags & SEQ_F_NAT)
		ctl_json_set(o, "nat", ctl_json_addr(e->addr2));
	if (e->flags & SEQ_F_XLAT) {
		ctl_json_set(o, "translate-from", json_integer(e->xlat_from));
		ctl_json_set(o, "translate-to", json_integer(e->xlat_to));
	}
	if (e->flags & SEQ_F_DSCP)
		ctl_json_set(o, "dscp", json_integer(e->dscp));
	ctl_json_set(o, "copies", json_integer(e->copy_n));
	return o;
}

static json_t *j_acl(const struct seq_copy_all *s, uint32_t set)
{
	const struct seq_acl_set *a = &s->v.acl_sets[set];
	json_t *o = json_object(), *rules = json_array();
	char pfx[CTL_PREFIX_LEN], pb[16];

	ctl_json_set(o, "default", json_string(action_text(a->deflt)));
	for (uint32_t r = 0; r < a->n; r++) {
		const struct seq_acl_rule *ru = &s->v.acl_rules[a->first + r];
		json_t *j = json_object();
		ctl_prefix(ru->addr, ru->mask, pfx, sizeof(pfx));
		ctl_json_set(j, "action", json_string(action_text(ru->action)));
		ctl_json_set(j, "client", json_string(pfx));
		ctl_json_set(j, "protocol", json_string(ctl_proto_name(ru->proto, pb, sizeof(pb))));
		ctl_json_set(j, "port-low", json_integer(ru->port_lo));
		ctl_json_set(j, "port-high", json_integer(ru->port_hi));
		json_array_append_new(rules, j);
	}
	ctl_json_set(o, "rules", rules);
	return o;
}

static void show_text_steps(const struct seq_copy_all *s, uint32_t slot)
{
	char name[SEQ_NAME_LEN + 1], from[20], to[20], pfx[CTL_PREFIX_LEN], pb[16], ex[64];
	uint32_t acl = SEQ_NONE;

	for (uint32_t i = 0; i < s->v.n_entries; i++) {
		const struct seq_entry *e = &s->v.entries[i];
		if (e->stat != slot)
			continue;
		if (e->acl != SEQ_NONE)
			acl = e->acl;
		dev_name(s, e->device, name);
		mac_text(e->dst_mac, to, sizeof(to));
		if (e->flags & SEQ_F_SRC_MAC)
			mac_text(e->src_mac, from, sizeof(from));
		else
			snprintf(from, sizeof(from), "any");
		ex[0] = '\0';
		if (e->flags & SEQ_F_XLAT)
			snprintf(ex, sizeof(ex), " port %u->%u", e->xlat_from, e->xlat_to);
		if (e->flags & SEQ_F_NAT)
			strncat(ex, " nat", sizeof(ex) - strlen(ex) - 1);
		printf("    %-7s %-12s in port %u from %-17s -> %-17s out port %u %s%s%s\n",
		       e->dir == SEQ_DIR_FWD ? "forward" : "reply", name, e->ingress, from, to,
		       e->egress, seq_mode_str(e->mode), ex, e->copy_n ? " +copies" : "");
	}
	if (acl == SEQ_NONE)
		return;
	const struct seq_acl_set *a = &s->v.acl_sets[acl];
	printf("    acl (default %s):\n", action_text(a->deflt));
	for (uint32_t r = 0; r < a->n; r++) {
		const struct seq_acl_rule *ru = &s->v.acl_rules[a->first + r];
		ctl_prefix(ru->addr, ru->mask, pfx, sizeof(pfx));
		printf("      %-6s %s %s ports %u-%u\n", action_text(ru->action),
		       pfx, ctl_proto_name(ru->proto, pb, sizeof(pb)), ru->port_lo, ru->port_hi);
	}
}

static void emit_slot(const struct seq_copy_all *s, uint32_t i, void *arg)
{
	struct emit *x = arg;

	if (x->jw) {
		json_t *o = j_slot(s, i);
		if (x->steps) {
			json_t *steps = json_array();
			uint32_t acl = SEQ_NONE;
			for (uint32_t e = 0; e < s->v.n_entries; e++)
				if (s->v.entries[e].stat == i) {
					json_array_append_new(steps, j_step(s, &s->v.entries[e]));
					if (s->v.entries[e].acl != SEQ_NONE)
						acl = s->v.entries[e].acl;
				}
			ctl_json_set(o, "steps", steps);
			if (acl != SEQ_NONE)
				ctl_json_set(o, "acl", j_acl(s, acl));
		}
		ctl_json_val(x->jw, o);
	} else if (x->steps) {
		char addr[CTL_ADDR_LEN], ports[16], pb[16];
		const struct seq_stat *st = &s->v.stats[i];
		ctl_addr(st->addr, addr, sizeof(addr));
		ports_text(st->port, st->port_hi, ports, sizeof(ports));
		printf("  %s %s port %s", addr, ctl_proto_name(st->proto, pb, sizeof(pb)), ports);
		if (s->have_stats && i < SEQ_STATS_SLOTS)
			printf(": %" PRIu64 " packets, %" PRIu64 " bytes", s->slot[i].packets,
			       s->slot[i].bytes);
		printf("\n");
		show_text_steps(s, i);
	} else if (chain_row(x->t, s, i) < 0) {
		x->err = -ENOMEM;
	}
}

static void j_head(struct ctl_json *jw, const struct ctl_opts *o, const struct seq_copy_all *s)
{
	ctl_json_key(jw, "instance");
	ctl_json_val(jw, json_string(o->instance));
	ctl_json_key(jw, "definitions-version");
	ctl_json_val(jw, ctl_json_u64(s->v.hdr->defs_version));
	ctl_json_key(jw, "generation");
	ctl_json_val(jw, ctl_json_u64(s->generation));
	ctl_json_key(jw, "statistics");
	ctl_json_val(jw, json_boolean(s->have_stats));
}

static int chains(const struct ctl_opts *o, const char *name)
{
	struct seq_copy_all *s;
	struct ctl_json jw;
	struct ctl_tbl t;
	struct emit x = { .steps = name != NULL };
	int r = open_all(o, &s);

	if (r)
		return r;
	if (o->json) {
		x.jw = &jw;
		ctl_json_init(&jw, stdout);
		ctl_json_obj(&jw);
		j_head(&jw, o, s);
		ctl_json_key(&jw, "chains");
		ctl_json_arr(&jw);
	} else if (name) {
		printf("Chain %s (definitions version %" PRIu64 ")%s\n", name,
		       s->v.hdr->defs_version, s->have_stats ? "" : " (no statistics segment)");
	} else {
		x.t = &t;
		ctl_tbl_init(&t, stdout, chain_cols, LOOM_ARRAY_SIZE(chain_cols));
	}
	uint32_t found = for_slots(s, name, emit_slot, &x);
	if (o->json) {
		ctl_json_end(&jw);
		ctl_json_end(&jw);
	} else if (!name) {
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
	}
	seq_free(s);
	r = ctl_finish(o->json ? &jw : NULL, x.err);
	if (name && !found) {
		fprintf(stderr, "loomctl: no service '%s' in the sequence table\n", name);
		return CTL_EXIT_NOT_FOUND;
	}
	return r;
}

int ctl_cmd_chain_list(const struct ctl_opts *o)
{
	return chains(o, NULL);
}

int ctl_cmd_chain_show(const struct ctl_opts *o, const char *name)
{
	return chains(o, name);
}

/* ---- device list ------------------------------------------------------------------ */

/* The health flags of device i: the prober's, or the snapshot's state alone
 * without statistics. */
static uint32_t dev_flags(const struct seq_copy_all *s, uint32_t i)
{
	if (s->have_stats && i < SEQ_STATS_DEVICES)
		return s->health[i].flags;
	return s->v.devices[i].state ? SEQ_H_DOWN : 0;
}

static json_t *j_device(const struct seq_copy_all *s, uint32_t i)
{
	const struct seq_device *d = &s->v.devices[i];
	char name[SEQ_NAME_LEN + 1], alt[SEQ_NAME_LEN + 1], mac[20];
	uint32_t flags = dev_flags(s, i);
	bool probed = flags & SEQ_H_PROBED;
	json_t *j = json_object();

	dev_name(s, i, name);
	dev_name(s, d->alternate, alt);
	mac_text(d->mac, mac, sizeof(mac));
	ctl_json_set(j, "name", json_string(name));
	ctl_json_set(j, "mac", json_string(mac));
	ctl_json_set(j, "mode", json_string(seq_mode_str(d->mode)));
	ctl_json_set(j, "state", json_string(flags & SEQ_H_DOWN ? "down" : "up"));
	ctl_json_set(j, "alternate-in-place", json_boolean(flags & SEQ_H_STANDIN));
	ctl_json_set(j, "alternate", d->alternate == SEQ_NONE ? json_null() : json_string(alt));
	ctl_json_set(j, "probed", json_boolean(probed));
	if (probed) {
		ctl_json_set(j, "probes-sent", ctl_json_u64(s->health[i].sent));
		ctl_json_set(j, "probes-answered", ctl_json_u64(s->health[i].answered));
		ctl_json_set(j, "rtt-us", ctl_json_u64(s->health[i].rtt_ns / 1000));
		ctl_json_set(j, "last-ok-ms", ctl_json_u64(s->health[i].last_ok_ms));
		ctl_json_set(j, "changes", ctl_json_u64(s->health[i].changes));
	}
	if (s->have_stats && i < SEQ_STATS_DEVICES) {
		ctl_json_set(j, "packets", ctl_json_u64(s->dev[i].packets));
		ctl_json_set(j, "bytes", ctl_json_u64(s->dev[i].bytes));
	}
	return j;
}

static const struct ctl_tbl_col dev_cols[] = {
	{ "DEVICE", false }, { "MAC", false },    { "MODE", false },   { "STATE", false },
	{ "ALTERNATE", false }, { "PROBES", true }, { "RTT", true },   { "LAST-OK", true },
	{ "PACKETS", true }, { "BYTES", true },
};

int ctl_cmd_device_list(const struct ctl_opts *o)
{
	struct seq_copy_all *s;
	struct ctl_json jw;
	struct ctl_tbl t;
	int err = 0, r = open_all(o, &s);
	struct timespec ts;

	/* last-ok is stamped with CLOCK_REALTIME by the engine */
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;

	if (r)
		return r;
	if (o->json) {
		ctl_json_init(&jw, stdout);
		ctl_json_obj(&jw);
		j_head(&jw, o, s);
		ctl_json_key(&jw, "devices");
		ctl_json_arr(&jw);
	} else {
		ctl_tbl_init(&t, stdout, dev_cols, LOOM_ARRAY_SIZE(dev_cols));
	}
	for (uint32_t i = 0; i < s->v.n_devices; i++) {
		const struct seq_device *d = &s->v.devices[i];
		char name[SEQ_NAME_LEN + 1], alt[SEQ_NAME_LEN + 1], mac[20];
		char probes[48] = "-", rtt[24] = "-", ok[24] = "-", pk[24] = "-", by[24] = "-";
		bool stats = s->have_stats && i < SEQ_STATS_DEVICES;
		uint32_t flags = dev_flags(s, i);
		bool probed = flags & SEQ_H_PROBED;

		if (o->json) {
			ctl_json_val(&jw, j_device(s, i));
			continue;
		}
		dev_name(s, i, name);
		dev_name(s, d->alternate, alt);
		mac_text(d->mac, mac, sizeof(mac));
		if (probed) {
			snprintf(probes, sizeof(probes), "%" PRIu64 "/%" PRIu64,
				 s->health[i].answered, s->health[i].sent);
			snprintf(rtt, sizeof(rtt), "%" PRIu64 "us", s->health[i].rtt_ns / 1000);
			if (s->health[i].last_ok_ms)
				ctl_duration(ctl_age_ms(s->health[i].last_ok_ms, now), ok,
					     sizeof(ok));
		}
		if (stats) {
			snprintf(pk, sizeof(pk), "%" PRIu64, s->dev[i].packets);
			snprintf(by, sizeof(by), "%" PRIu64, s->dev[i].bytes);
		}
		const char *cells[] = { name, mac, seq_mode_str(d->mode), state_text(flags), alt,
					probes, rtt, ok, pk, by };
		if (ctl_tbl_row(&t, cells) < 0)
			err = -ENOMEM;
	}
	if (o->json) {
		ctl_json_end(&jw);
		ctl_json_end(&jw);
	} else {
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
	}
	seq_free(s);
	return ctl_finish(o->json ? &jw : NULL, err);
}

/* ---- engine stats ----------------------------------------------------------------- */

static const struct ctl_tbl_col ctr_cols[] = { { "COUNTER", false }, { "VALUE", true } };

int ctl_cmd_engine_stats(const struct ctl_opts *o)
{
	struct seq_copy_all *s;
	struct ctl_json jw;
	struct ctl_tbl t;
	int err = 0, r = open_all(o, &s);

	if (r)
		return r;
	if (!s->have_stats) {
		seq_free(s);
		return ctl_open_error(o->instance, "stats", "loom-pkt-engine", "stats",
				      SEQ_STATS_VERSION, -ENOENT);
	}
	if (o->json) {
		ctl_json_init(&jw, stdout);
		ctl_json_obj(&jw);
		j_head(&jw, o, s);
		ctl_json_key(&jw, "counters");
		ctl_json_obj(&jw);
		for (uint32_t c = 0; c < s->nctr; c++) {
			ctl_json_key(&jw, s->ctr_name[c]);
			ctl_json_val(&jw, ctl_json_u64(s->ctr[c]));
		}
		ctl_json_end(&jw);
		ctl_json_end(&jw);
	} else {
		ctl_tbl_init(&t, stdout, ctr_cols, LOOM_ARRAY_SIZE(ctr_cols));
		for (uint32_t c = 0; c < s->nctr; c++) {
			char v[24];
			snprintf(v, sizeof(v), "%" PRIu64, s->ctr[c]);
			const char *cells[] = { s->ctr_name[c], v };
			if (ctl_tbl_row(&t, cells) < 0)
				err = -ENOMEM;
		}
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
	}
	seq_free(s);
	return ctl_finish(o->json ? &jw : NULL, err);
}

/* ---- one document for other programs ------------------------------------------------ */

int ctl_engine_doc(const char *instance, json_t **out)
{
	struct seq_copy_all *s;
	int r = load(instance, &s);

	*out = NULL;
	if (r < 0)
		return r;
	json_t *doc = json_object(), *chains = json_array(), *devs = json_array();
	if (!doc || !chains || !devs) {
		json_decref(doc);
		json_decref(chains);
		json_decref(devs);
		seq_free(s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->v.n_stats; i++)
		json_array_append_new(chains, j_slot(s, i));
	for (uint32_t i = 0; i < s->v.n_devices; i++)
		json_array_append_new(devs, j_device(s, i));
	ctl_json_set(doc, "instance", json_string(instance));
	ctl_json_set(doc, "definitions-version", ctl_json_u64(s->v.hdr->defs_version));
	ctl_json_set(doc, "generation", ctl_json_u64(s->generation));
	ctl_json_set(doc, "statistics", json_boolean(s->have_stats));
	ctl_json_set(doc, "chains", chains);
	ctl_json_set(doc, "devices", devs);
	seq_free(s);
	*out = doc;
	return 0;
}
