// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pktio "pcap" back end: capture files in, capture files out.
 *
 * At open every port's input is read whole into one arena and the records
 * are merged into one timeline ordered by timestamp (ties: lower port, then
 * file order). rx_burst walks that timeline, copying each record into a
 * per-burst slot so the worker may rewrite it while the arena stays
 * pristine for the next round of a loop. One queue only: the timeline is a
 * single order, and tests want it deterministic.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pcap_file.h"
#include "common/pkt.h"
#include "pktio-internal.h"

#define PCAP_ARENA_MAX  (1u << 30) /* refuse inputs above 1 GiB in total */
#define PCAP_REC_MAX    (65536u + 256u)
#define PCAP_TAILROOM   256u

struct pcap_ent {
	uint64_t ts_ns;
	uint64_t off;  /* into the arena */
	uint32_t len;
	uint32_t seq;  /* file order, for a stable merge */
	uint16_t port;
	uint16_t flags; /* PKTIO_F_RAW_IP */
};

struct pcap_be {
	uint8_t *arena;
	size_t arena_len;
	struct pcap_ent *ents;
	size_t n_ents;
	size_t next;          /* next entry of the current round */
	unsigned round;
	unsigned rounds;
	uint64_t span_ns;     /* timestamp shift per round */
	uint64_t t0_ns;       /* first timestamp */
	uint64_t start_mono;  /* monotonic time of the first delivery (real pace) */
	bool started;
	bool eof;             /* read by any thread: atomic */
	enum pktio_pace pace;
	bool (*gate)(void *arg);
	void *gate_arg;
	unsigned port_flags[PKTIO_MAX_PORTS];
	struct pcap_writer *out[PKTIO_MAX_PORTS];
	uint64_t last_ts;     /* timestamp of the last packet delivered */
	bool have_ts;
	uint8_t *slots;       /* PKTIO_MAX_BURST slots of slot_size */
	uint32_t slot_size;
	uint8_t *scratch;     /* tx: completing a partial checksum */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct pcap_ent *x = a, *y = b;

	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int load_input(struct pcap_be *be, uint16_t port, const char *path, uint8_t *buf,
		      size_t *cap_ents, size_t *cap_arena)
{
	struct pcap_reader *r;
	struct pcap_rec rec;
	uint16_t flags;
	uint32_t seq = 0;
	int rc;

	rc = pcap_reader_open(path, PCAP_REC_MAX, &r);
	if (rc < 0)
		return rc;
	flags = pcap_reader_linktype(r) == PCAP_LINKTYPE_RAW ? PKTIO_F_RAW_IP : 0;
	while ((rc = pcap_reader_next(r, &rec, buf, PCAP_REC_MAX)) > 0) {
		if (be->n_ents == *cap_ents) {
			size_t n = *cap_ents ? *cap_ents * 2 : 256;
			void *p = reallocarray(be->ents, n, sizeof(*be->ents));

			if (!p) {
				rc = -ENOMEM;
				break;
			}
			be->ents = p;
			*cap_ents = n;
		}
		if (be->arena_len + rec.caplen > *cap_arena) {
			size_t n = *cap_arena ? *cap_arena * 2 : 65536;
			void *p;

			while (n < be->arena_len + rec.caplen)
				n *= 2;
			if (n > PCAP_ARENA_MAX) {
				rc = -EFBIG;
				break;
			}
			p = realloc(be->arena, n);
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			be->arena = p;
			*cap_arena = n;
		}
		memcpy(be->arena + be->arena_len, buf, rec.caplen);
		be->ents[be->n_ents++] = (struct pcap_ent){
			.ts_ns = rec.ts_ns,
			.off = be->arena_len,
			.len = rec.caplen,
			.seq = seq++,
			.port = port,
			.flags = flags,
		};
		be->arena_len += rec.caplen;
		if (rec.caplen + PCAP_TAILROOM > be->slot_size)
			be->slot_size = rec.caplen + PCAP_TAILROOM;
	}
	pcap_reader_close(r);
	return rc < 0 ? rc : 0;
}

static void pcap_close(struct pktio *io)
{
	struct pcap_be *be = io->priv;

	if (!be)
		return;
	for (unsigned p = 0; p < PKTIO_MAX_PORTS; p++)
		pcap_writer_close(be->out[p]);
	free(be->arena);
	free(be->ents);
	free(be->slots);
	free(be->scratch);
	free(be);
	io->priv = NULL;
}

static int pcap_open(struct pktio *io, const struct pktio_cfg *cfg)
{
	size_t cap_ents = 0, cap_arena = 0;
	struct pcap_be *be;
	uint8_t *buf;
	int rc = 0;

	if (cfg->n_queues != 1 || cfg->pace > PKTIO_PACE_REAL)
		return -EINVAL;
	be = calloc(1, sizeof(*be));
	buf = malloc(PCAP_REC_MAX);
	if (!be || !buf) {
		free(be);
		free(buf);
		return -ENOMEM;
	}
	io->priv = be;
	be->pace = cfg->pace;
	be->gate = cfg->gate;
	be->gate_arg = cfg->gate_arg;
	be->rounds = cfg->loop ? cfg->loop : 1;
	be->slot_size = 2048;

	for (unsigned p = 0; p < cfg->n_ports && rc == 0; p++) {
		const struct pktio_port_cfg *pc = &cfg->ports[p];
		uint32_t lt = pc->pcap_out_linktype ? pc->pcap_out_linktype :
						      PCAP_LINKTYPE_ETHERNET;

		be->port_flags[p] = pc->flags;
		if (pc->pcap_in)
			rc = load_input(be, (uint16_t)p, pc->pcap_in, buf, &cap_ents, &cap_arena);
		if (rc == 0 && pc->pcap_out)
			rc = pcap_writer_open(pc->pcap_out, lt, 0, true, &be->out[p]);
	}
	free(buf);
	if (rc == 0) {
		be->slots = malloc((size_t)PKTIO_MAX_BURST * be->slot_size);
		be->scratch = malloc(PCAP_REC_MAX);
		if (!be->slots || !be->scratch)
			rc = -ENOMEM;
	}
	if (rc < 0) {
		pcap_close(io);
		return rc;
	}
	if (be->n_ents) {
		qsort(be->ents, be->n_ents, sizeof(*be->ents), ent_cmp);
		be->t0_ns = be->ents[0].ts_ns;
		/* One microsecond after the last packet, the next round begins. */
		be->span_ns = be->ents[be->n_ents - 1].ts_ns - be->t0_ns + 1000;
	}
	be->eof = be->n_ents == 0;
	return 0;
}

/* The folded, uncomplemented pseudo-header sum the kernel leaves in the
 * checksum field of a CHECKSUM_PARTIAL packet. */
static uint16_t pseudo_sum(const uint8_t *buf, const struct pkt_view *v)
{
	const uint8_t *ip = buf + v->l3_off;
	unsigned alen = v->family == PKT_IPV4 ? 4 : 16;
	const uint8_t *src = ip + (v->family == PKT_IPV4 ? 12 : 8);
	uint32_t sum = v->l4_proto + v->l4_len;

	for (unsigned i = 0; i < 2 * alen; i += 2)
		sum += (uint32_t)src[i] << 8 | src[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void make_partial(struct pktio_pkt *p)
{
	struct pkt_view v;
	uint16_t off, sum;

	if (pktio_pkt_parse(p, &v) < 0 || !(v.flags & PKT_F_L4) || (v.flags & PKT_F_FRAG))
		return;
	if (v.l4_proto == IPPROTO_TCP)
		off = 16;
	else if (v.l4_proto == IPPROTO_UDP)
		off = 6;
	else
		return;
	sum = pseudo_sum(p->data, &v);
	p->data[v.l4_off + off] = (uint8_t)(sum >> 8);
	p->data[v.l4_off + off + 1] = (uint8_t)sum;
	p->flags |= PKTIO_F_CSUM_PARTIAL;
	p->csum_start = v.l4_off;
	p->csum_offset = off;
}

static const struct pcap_ent *next_ent(const struct pcap_be *be, uint64_t *ts)
{
	const struct pcap_ent *e;

	if (be->round >= be->rounds || be->next >= be->n_ents)
		return NULL;
	e = &be->ents[be->next];
	*ts = e->ts_ns + be->round * be->span_ns;
	return e;
}

static void advance(struct pcap_be *be)
{
	if (++be->next == be->n_ents) {
		be->next = 0;
		if (++be->round == be->rounds)
			__atomic_store_n(&be->eof, true, __ATOMIC_RELEASE);
	}
}

/* Nanoseconds until ts is due under real pacing (0: due now). */
static uint64_t due_in(struct pcap_be *be, uint64_t ts)
{
	uint64_t now, due;

	if (be->pace != PKTIO_PACE_REAL)
		return 0; /* no clock read per packet when not pacing */
	now = mono_ns();
	if (!be->started) {
		be->started = true;
		be->start_mono = now;
	}
	due = be->start_mono + (ts - be->t0_ns);
	return due > now ? due - now : 0;
}

static int pcap_rx_burst(struct pktio *io, unsigned q, struct pktio_pkt *pkts, unsigned max)
{
	struct pcap_be *be = io->priv;
	const struct pcap_ent *e;
	uint64_t ts, bytes = 0;
	unsigned n = 0;

	if (be->gate && max > 1)
		max = 1;
	while (n < max && (e = next_ent(be, &ts)) != NULL) {
		struct pktio_pkt *p = &pkts[n];
		uint8_t *slot = be->slots + (size_t)n * be->slot_size;

		if (due_in(be, ts) > 0)
			break;
		if (be->gate && !be->gate(be->gate_arg))
			break;
		memcpy(slot, be->arena + e->off, e->len);
		*p = (struct pktio_pkt){
			.data = slot,
			.len = e->len,
			.port = e->port,
			.flags = e->flags,
			.room = be->slot_size,
			.ts_ns = ts,
		};
		if (be->port_flags[e->port] & PKTIO_PORT_CSUM_PARTIAL)
			make_partial(p);
		be->last_ts = ts;
		be->have_ts = true;
		bytes += e->len;
		advance(be);
		n++;
	}
	if (n) {
		pktio_stat_add(io, q, PKTIO_ST_RX_PKTS, n);
		pktio_stat_add(io, q, PKTIO_ST_RX_BYTES, bytes);
	}
	return (int)n;
}

static void pcap_rx_release(struct pktio *io, unsigned q)
{
	(void)io;
	(void)q;
}

static int pcap_tx_burst(struct pktio *io, unsigned q, const struct pktio_pkt *pkts, unsigned n)
{
	struct pcap_be *be = io->priv;
	uint64_t ts = be->have_ts ? be->last_ts : real_ns(), bytes = 0;
	bool used[PKTIO_MAX_PORTS] = { false };
	unsigned sent = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct pktio_pkt *p = &pkts[i];
		struct pcap_writer *w = p->port < io->n_ports ? be->out[p->port] : NULL;
		bool raw = p->flags & PKTIO_F_RAW_IP;
		const uint8_t *data = p->data;

		if (!w || raw != (pcap_writer_linktype(w) == PCAP_LINKTYPE_RAW)) {
			pktio_stat_add(io, q, PKTIO_ST_TX_BAD_PORT, 1);
			continue;
		}
		if (p->flags & PKTIO_F_CSUM_PARTIAL) {
			/* The file gets what the wire would carry. */
			if (p->len > PCAP_REC_MAX) {
				pktio_stat_add(io, q, PKTIO_ST_TX_TOO_BIG, 1);
				continue;
			}
			memcpy(be->scratch, p->data, p->len);
			if (pkt_csum_complete(be->scratch, p->len, p->csum_start, p->csum_offset,
					      NULL) < 0) {
				pktio_stat_add(io, q, PKTIO_ST_TX_ERRORS, 1);
				continue;
			}
			data = be->scratch;
		}
		if (pcap_writer_write(w, ts, data, p->len) < 0) {
			pktio_stat_add(io, q, PKTIO_ST_TX_ERRORS, 1);
			continue;
		}
		used[p->port] = true;
		bytes += p->len;
		sent++;
	}
	for (unsigned p = 0; p < io->n_ports; p++)
		if (used[p] && pcap_writer_flush(be->out[p]) < 0)
			pktio_stat_add(io, q, PKTIO_ST_TX_ERRORS, 1);
	pktio_stat_add(io, q, PKTIO_ST_TX_PKTS, sent);
	pktio_stat_add(io, q, PKTIO_ST_TX_BYTES, bytes);
	return (int)sent;
}

static int pcap_wait(struct pktio *io, unsigned q, int timeout_ms)
{
	struct pcap_be *be = io->priv;
	uint64_t ts, in, limit;

	limit = timeout_ms < 0 ? UINT64_MAX : (uint64_t)timeout_ms * 1000000u;
	if (!next_ent(be, &ts)) /* input done: only the wake descriptor can end the wait */
		return pktio_sleep_or_wake(io, q, limit < 10000000u ? limit : 10000000u);
	if (be->gate && !be->gate(be->gate_arg)) {
		/* The gate opens from another thread, which may also wake us. */
		return pktio_sleep_or_wake(io, q, limit < 1000000u ? limit : 1000000u);
	}
	in = due_in(be, ts);
	if (in == 0)
		return 1;
	if (pktio_sleep_or_wake(io, q, in < limit ? in : limit))
		return 1;
	return in <= limit;
}

static bool pcap_eof(const struct pktio *io)
{
	const struct pcap_be *be = io->priv;

	return __atomic_load_n(&be->eof, __ATOMIC_ACQUIRE);
}

const struct pktio_ops pktio_pcap_ops = {
	.name = "pcap",
	.open = pcap_open,
	.close = pcap_close,
	.rx_burst = pcap_rx_burst,
	.rx_release = pcap_rx_release,
	.tx_burst = pcap_tx_burst,
	.wait = pcap_wait,
	.eof = pcap_eof,
};
