/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The affinity tables of a forwarding agent, as laid out in shared memory.
 *
 * loom-fwd-agent writes them; loomctl and a co-located loom-svc-mgr read
 * them. Two segments per agent instance:
 *
 *   loom.<instance>.affinity   a shm hash table (shm/table.h) of fixed
 *                              affinities: key = the exact flow key of one
 *                              direction, value = struct aff_fixed
 *   loom.<instance>.wildcard   a shm snapshot (shm/snap.h) holding the
 *                              wildcard affinities and the advertised
 *                              addresses (struct aff_snap_hdr + arrays)
 *
 * Precedence. A wildcard carries a service precedence (value and search
 * order: whether higher or lower values are better) and a backup
 * precedence (lower is better). The agent folds the first two into one
 * rank, higher = better, so the snapshot can be kept sorted once: by rank
 * descending, then backup precedence ascending. The first wildcard that
 * matches a packet is the one to act on; a packet a manager returns
 * continues with the first match of a lower rank (cascaded services).
 *
 * Time. expires_ms is CLOCK_MONOTONIC milliseconds of the writing host;
 * 0 means the entry never expires (not used by managers, which always give
 * a TTL, but by tests).
 */
#ifndef LOOM_COMMON_AFFINITY_H
#define LOOM_COMMON_AFFINITY_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/key.h"

#define AFF_FIXED_KIND    0x41464658u /* "AFFX": value layout of the fixed table */
#define AFF_FIXED_VERSION 3u /* 2: hot/cold split; 3: report_bytes */
#define AFF_SNAP_KIND     0x41465753u /* "AFWS": wildcard snapshot layout */
#define AFF_SNAP_VERSION  1u
#define AFF_SNAP_MAGIC    0x57494c44u /* "WILD" */

/*
 * Per-forward-address statistics (the information flag, seed 001): a third
 * segment, loom.<instance>.fwdstats, a shm hash table keyed by the forward
 * address alone (a flow key whose daddr is the address, all else zero) whose
 * lanes count packets and bytes; the value records when it was first used.
 */
#define AFF_FWDSTATS_KIND    0x41464653u /* "AFFS" */
#define AFF_FWDSTATS_VERSION 1u
#define AFF_FWDSTATS_MAX     4096u

struct aff_fwdstat {
	uint64_t first_ms;       /* CLOCK_MONOTONIC ms when an affinity first named it */
};

static inline void aff_fwdstat_key(struct flow_key *k, const uint8_t addr[16])
{
	key_init(k);
	memcpy(k->daddr, addr, 16);
}

#define AFF_MAX_MGR_DATA  64u  /* manager interest data kept with a wildcard */
#define AFF_FIXED_MGR_DATA 56u /* ... and with a fixed affinity */
#define AFF_MAX_WILDCARDS 4096u /* and so at most as many advertised prefixes */

/* What to do with a packet that matches. */
enum aff_flags {
	AFF_F_DISPATCH  = 1u << 0, /* send to fwd_addr, destination not rewritten */
	AFF_F_INFO      = 1u << 1, /* count per forward address */
	AFF_F_NAT       = 1u << 2,
	AFF_F_SEQ       = 1u << 3,
	AFF_F_INTEREST  = 1u << 4,
	AFF_F_ADVERTISE = 1u << 5, /* wildcard: its destination is advertised */
	AFF_F_REPORTED  = 1u << 6, /* fixed: its report_bytes match was sent */
};

struct aff_actions {
	uint16_t flags;          /* AFF_F_* */
	uint8_t nat_fields;      /* MSG_NAT_* bits: which fields NAT rewrites */
	uint8_t pad0;
	uint16_t nat_sport;      /* network byte order */
	uint16_t nat_dport;
	uint8_t nat_saddr[16];
	uint8_t nat_daddr[16];
	uint8_t fwd_addr[16];    /* dispatch target; all zero = drop after counting */
	uint32_t seq_delta;      /* host byte order */
	uint32_t seq_init;
	uint32_t ack_delta;
	uint32_t ack_init;
	uint16_t int_mask;       /* MSG_INT_*: packets that make an interest match */
	uint16_t int_data;       /* ... that carry the packet to the manager */
	uint16_t int_copy;       /* ... whose copy goes to the manager, original forwarded */
	uint16_t int_hold;       /* ... held (sent to the manager) instead of forwarded */
	uint8_t int_addr[16];    /* where interest matches go (informational) */
	uint16_t int_port;
	uint16_t pad1;
	uint32_t report_bytes;   /* fixed: one MSG_INT_BYTES match at this many bytes (0: none) */
};
static_assert(sizeof(struct aff_actions) == 104, "aff_actions is an shm layout");

/*
 * Value of a fixed-affinity table entry, in two parts.
 *
 * Every packet of a flow reads its affinity, and at a million flows each of
 * those reads is a cache miss per line touched. The hot part is what every
 * hit needs (expiry, owner, the action flags, NAT, interest and dispatch
 * vectors, AFF_FIXED_HOT_LEN bytes): after the table's 48-byte entry header
 * it ends within the entry's first two cache lines (entries start on a
 * line, shm/table.h), which the data path prefetches with the entry. The rest
 * is read only when a flag asks for it: the sequence adjustment with
 * AFF_F_SEQ (the first AFF_FIXED_SEQ_LEN bytes), the manager's data for a
 * punt, precedence and the interest address by loomctl and the writer.
 *
 * The actions are the fields of struct aff_actions spread over both parts;
 * aff_fixed_actions() and aff_fixed_set_actions() convert.
 */
struct aff_fixed {
	/* hot */
	uint64_t expires_ms;
	uint16_t flags;          /* AFF_F_* */
	uint16_t owner;          /* index of the owning manager in the agent's configuration */
	uint16_t nat_sport;      /* network byte order */
	uint16_t nat_dport;
	uint8_t nat_saddr[16];
	uint8_t nat_daddr[16];
	uint8_t nat_fields;      /* MSG_NAT_* bits */
	uint8_t mgr_len;         /* bytes of mgr_data in use */
	uint16_t int_mask;       /* MSG_INT_* vectors, as in struct aff_actions */
	uint16_t int_data;
	uint16_t int_copy;
	uint16_t int_hold;
	uint16_t origin;         /* 0: this agent's manager gave it; n: a copy from peer n-1 */
	uint32_t ttl_s;
	uint8_t fwd_addr[16];    /* dispatch target; all zero = drop after counting */
	/* cold: AFF_F_SEQ */
	uint32_t seq_delta;      /* host byte order */
	uint32_t seq_init;
	uint32_t ack_delta;
	uint32_t ack_init;
	/* cold */
	int64_t rank;            /* service precedence folded: higher is better */
	uint32_t backup_prec;
	uint16_t int_port;
	uint16_t pad1;
	uint8_t int_addr[16];    /* where interest matches go (informational) */
	uint32_t report_bytes;   /* the control thread's sweep reports the threshold */
	uint32_t pad3;
	uint8_t mgr_data[AFF_FIXED_MGR_DATA];
};
#define AFF_FIXED_VALUE_SIZE 192u
#define AFF_FIXED_HOT_LEN    80u /* bytes every hit reads */
#define AFF_FIXED_SEQ_LEN    96u /* ... and with AFF_F_SEQ */
static_assert(sizeof(struct aff_fixed) == AFF_FIXED_VALUE_SIZE, "aff_fixed is an shm layout");
static_assert(offsetof(struct aff_fixed, seq_delta) == AFF_FIXED_HOT_LEN, "hot part pinned");
static_assert(offsetof(struct aff_fixed, rank) == AFF_FIXED_SEQ_LEN, "seq part pinned");

/*
 * The actions of a fixed affinity, gathered into *a (every field written).
 * f may be a prefix of len bytes (a hit's copy): at least AFF_FIXED_HOT_LEN,
 * and AFF_FIXED_SEQ_LEN when AFF_F_SEQ is set; cold fields beyond len come
 * back zero. Field by field, no memset: this runs for every packet.
 */
static inline void aff_fixed_actions(const struct aff_fixed *f, size_t len,
				     struct aff_actions *a)
{
	bool seq = len >= AFF_FIXED_SEQ_LEN, all = len >= sizeof(*f);

	a->flags = f->flags;
	a->nat_fields = f->nat_fields;
	a->pad0 = 0;
	a->nat_sport = f->nat_sport;
	a->nat_dport = f->nat_dport;
	memcpy(a->nat_saddr, f->nat_saddr, 16);
	memcpy(a->nat_daddr, f->nat_daddr, 16);
	memcpy(a->fwd_addr, f->fwd_addr, 16);
	a->seq_delta = seq ? f->seq_delta : 0;
	a->seq_init = seq ? f->seq_init : 0;
	a->ack_delta = seq ? f->ack_delta : 0;
	a->ack_init = seq ? f->ack_init : 0;
	a->int_mask = f->int_mask;
	a->int_data = f->int_data;
	a->int_copy = f->int_copy;
	a->int_hold = f->int_hold;
	if (all)
		memcpy(a->int_addr, f->int_addr, 16);
	else
		memset(a->int_addr, 0, 16);
	a->int_port = all ? f->int_port : 0;
	a->pad1 = 0;
	a->report_bytes = all ? f->report_bytes : 0;
}

/* Store actions into a fixed affinity (the writer). */
static inline void aff_fixed_set_actions(struct aff_fixed *f, const struct aff_actions *a)
{
	f->flags = a->flags;
	f->nat_fields = a->nat_fields;
	f->nat_sport = a->nat_sport;
	f->nat_dport = a->nat_dport;
	memcpy(f->nat_saddr, a->nat_saddr, 16);
	memcpy(f->nat_daddr, a->nat_daddr, 16);
	memcpy(f->fwd_addr, a->fwd_addr, 16);
	f->int_mask = a->int_mask;
	f->int_data = a->int_data;
	f->int_copy = a->int_copy;
	f->int_hold = a->int_hold;
	f->seq_delta = a->seq_delta;
	f->seq_init = a->seq_init;
	f->ack_delta = a->ack_delta;
	f->ack_init = a->ack_init;
	memcpy(f->int_addr, a->int_addr, 16);
	f->int_port = a->int_port;
	f->report_bytes = a->report_bytes;
}

/* A wildcard affinity in the published snapshot. */
struct aff_wild {
	struct flow_key key;     /* addresses already masked */
	uint8_t smask[16];
	uint8_t dmask[16];
	struct aff_actions act;
	uint64_t expires_ms;
	uint32_t ttl_s;
	uint16_t owner;
	uint8_t mgr_len;
	uint8_t pad0;
	int64_t rank;
	uint32_t backup_prec;
	uint32_t pad1;
	uint8_t mgr_data[AFF_MAX_MGR_DATA];
	uint8_t adv_addr[16];    /* AFF_F_ADVERTISE: the advertised prefix */
	uint8_t adv_mask[16];
};
static_assert(sizeof(struct aff_wild) == 304, "aff_wild is an shm layout");

/* An advertised address (ARP/ND answered by the agent, routes announced). */
struct aff_adv {
	uint8_t addr[16];
	uint8_t mask[16];
	uint16_t owner;
	uint16_t pad[3];
};
static_assert(sizeof(struct aff_adv) == 40, "aff_adv is an shm layout");

struct aff_snap_hdr {
	uint32_t magic;          /* AFF_SNAP_MAGIC */
	uint32_t nwild;
	uint32_t nadv;
	uint32_t pad;
	uint64_t built_ms;
	/* struct aff_wild wild[nwild]; struct aff_adv adv[nadv]; */
};
static_assert(sizeof(struct aff_snap_hdr) == 24, "aff_snap_hdr is an shm layout");

/* A validated view of a published snapshot (pointers into the segment). */
struct aff_snap_view {
	const struct aff_wild *wild;
	uint32_t nwild;
	const struct aff_adv *adv;
	uint32_t nadv;
	uint64_t built_ms;
};

/* Bytes a snapshot of nwild wildcards and nadv advertised addresses takes. */
static inline size_t aff_snap_size(uint32_t nwild, uint32_t nadv)
{
	return sizeof(struct aff_snap_hdr) + (size_t)nwild * sizeof(struct aff_wild) +
	       (size_t)nadv * sizeof(struct aff_adv);
}

/*
 * Check a snapshot read from shared memory (another process wrote it) and
 * fill a view. 0, or -EPROTO if the magic, the counts or the length do not
 * agree. Call inside the snapshot's read-side section.
 */
int aff_snap_view(const void *p, size_t len, struct aff_snap_view *v);

/* The rank of a service precedence: higher is better whatever the order. */
static inline int64_t aff_rank(uint32_t value, bool lower_is_better)
{
	return lower_is_better ? -(int64_t)value : (int64_t)value;
}

/* Sort order of wildcards in a snapshot: true if a comes before b. */
static inline bool aff_wild_before(const struct aff_wild *a, const struct aff_wild *b)
{
	if (a->rank != b->rank)
		return a->rank > b->rank;
	return a->backup_prec < b->backup_prec;
}

static inline bool aff_masked_eq(const uint8_t want[16], const uint8_t mask[16],
				 const uint8_t addr[16])
{
	uint64_t w[2], m[2], a[2];

	memcpy(w, want, 16);
	memcpy(m, mask, 16);
	memcpy(a, addr, 16);
	return (((a[0] & m[0]) ^ w[0]) | ((a[1] & m[1]) ^ w[1])) == 0;
}

/* Does a packet's key fall under a wildcard? Protocol and ports 0 match any. */
static inline bool aff_wild_match(const struct aff_wild *w, const struct flow_key *k)
{
	return (w->key.proto == 0 || w->key.proto == k->proto) &&
	       (w->key.sport == 0 || w->key.sport == k->sport) &&
	       (w->key.dport == 0 || w->key.dport == k->dport) &&
	       aff_masked_eq(w->key.saddr, w->smask, k->saddr) &&
	       aff_masked_eq(w->key.daddr, w->dmask, k->daddr);
}

/*
 * Does a wildcard cover every packet of a fixed affinity's key? (A fixed
 * affinity is accepted only with a wildcard of the same manager behind it.)
 */
static inline bool aff_wild_covers(const struct aff_wild *w, const struct flow_key *fixed)
{
	return aff_wild_match(w, fixed);
}

/*
 * The first wildcard, in snapshot order, that matches k and whose rank is
 * below `below` (INT64_MAX for the first pass of a packet). now_ms skips
 * expired wildcards. Returns the index or -1.
 */
static inline int aff_snap_find(const struct aff_snap_view *v, const struct flow_key *k,
				int64_t below, uint64_t now_ms)
{
	for (uint32_t i = 0; i < v->nwild; i++) {
		const struct aff_wild *w = &v->wild[i];

		if (w->rank >= below)
			continue;
		if (w->expires_ms && w->expires_ms <= now_ms)
			continue;
		if (aff_wild_match(w, k))
			return (int)i;
	}
	return -1;
}

/* Is addr advertised (inside one of the advertised prefixes)? */
static inline bool aff_snap_advertised(const struct aff_snap_view *v, const uint8_t addr[16])
{
	for (uint32_t i = 0; i < v->nadv; i++)
		if (aff_masked_eq(v->adv[i].addr, v->adv[i].mask, addr))
			return true;
	return false;
}

#endif
