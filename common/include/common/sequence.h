/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sequence table: the shared layout of loom-pkt-engine's published
 * snapshot (ARCHITECTURE.md sections 2 and 6), `loom.<i>.sequence`.
 *
 * Design. A service chain is steered without per-flow state, after the
 * seed's fifth method: the engine interface a packet arrived on, its
 * direction (the service IP as destination: forward; as source: reply) and
 * its service address, protocol and port name the step it is at; the
 * source MAC then proves that the expected device sent it (the fourth
 * method, as a check). One step is one struct seq_entry: the key it matches
 * and everything needed to send the packet on (egress port, next MAC, mode
 * rewrite, port translation, copies, ACL set, QoS mark, device).
 *
 * The snapshot is one immutable block built aside by the engine's control
 * thread (seq_builder) and published through shm/snap.h. Lookup is a hash
 * on (ingress, direction, protocol, address) into chains of entries that
 * differ only by port range and expected sender: a few entries per service
 * address, never a walk over every rule.
 *
 * Layout: struct seq_hdr, then sections (offset from the block's start,
 * element count), each 8-byte aligned: devices, entries, hash buckets
 * (entry indices), copies, ACL sets, ACL rules, statistics slots. Every
 * link is an index, never a pointer. seq_view_init() checks every section
 * and every index once, so lookups can trust them; chains are still walked
 * with a bound, as a cycle is not worth checking for up front.
 *
 * Byte order: addresses as in the packet (16 bytes, IPv4 mapped, see
 * common/key.h); ports and the other scalars in host order (the segment
 * never leaves the host).
 *
 * Threads: the builder belongs to one thread (the engine's control thread).
 * A view and the lookups only read the block: any thread, as long as the
 * block stays mapped (inside the shm read-side section that found it).
 */
#ifndef LOOM_COMMON_SEQUENCE_H
#define LOOM_COMMON_SEQUENCE_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#define SEQ_SNAP_KIND    0x53455131u /* "SEQ1": the shm_snap value kind */
#define SEQ_SNAP_VERSION 1u
#define SEQ_MAGIC        0x314e4f4d4d4f4f4cULL /* "LOOMMON1" */
#define SEQ_NONE         0xffffffffu /* an absent index */
#define SEQ_MAX_PORTS    16u         /* engine interfaces (pktio ports) */
#define SEQ_NAME_LEN     32u

/* Why a snapshot is refused, declared once. */
#define SEQ_ERR_LIST(X)                                                        \
	X(SEQ_OK,            "ok")                                             \
	X(SEQ_E_SHORT,       "shorter than its header")                        \
	X(SEQ_E_MAGIC,       "bad magic or version")                           \
	X(SEQ_E_SECTION,     "a section lies outside the block or is misaligned") \
	X(SEQ_E_BUCKETS,     "bucket count is not a power of two")             \
	X(SEQ_E_INDEX,       "an index points outside its section")            \
	X(SEQ_E_VALUE,       "a field holds a value out of range")

enum seq_err { SEQ_ERR_LIST(LOOM_XENUM) SEQ__E_MAX };
const char *seq_err_str(int err); /* err may be negative */

enum seq_dir {
	SEQ_DIR_FWD = 0,   /* towards the server: the service IP is the destination */
	SEQ_DIR_REPLY = 1, /* towards the client: the service IP is the source */
};

/* How the next hop takes the packet (seed: loopback, alias, normal/NAT). */
#define SEQ_MODE_LIST(X)                                                       \
	X(SEQ_MODE_LOOPBACK, "loopback") /* keep the service IP, send to the MAC */ \
	X(SEQ_MODE_ALIAS,    "alias")    /* the same on the wire */            \
	X(SEQ_MODE_NAT,      "nat")      /* rewrite to the device, reverse back */ \
	X(SEQ_MODE_ROUTE,    "route")    /* the last step: to the segment's router */

enum seq_mode { SEQ_MODE_LIST(LOOM_XENUM) SEQ__MODE_MAX };
const char *seq_mode_str(unsigned mode);

enum seq_dev_state {
	SEQ_DEV_UP = 0,
	SEQ_DEV_DOWN = 1, /* steps to it drop (counted) until an alternate is set */
};

enum {
	SEQ_F_SRC_MAC   = 1u << 0, /* only src_mac may send at this step */
	SEQ_F_NAT       = 1u << 1, /* forward: daddr := addr2; reply: saddr := addr2 */
	SEQ_F_XLAT      = 1u << 2, /* forward dport / reply sport xlat_from -> xlat_to */
	SEQ_F_DSCP      = 1u << 3, /* set the DSCP to dscp */
	SEQ_F__ALL      = (1u << 4) - 1,
};

struct seq_section {
	uint32_t off;   /* from the start of the block, multiple of 8 */
	uint32_t count; /* elements */
};

enum seq_sec {
	SEQ_SEC_DEVICES,
	SEQ_SEC_ENTRIES,
	SEQ_SEC_BUCKETS,
	SEQ_SEC_COPIES,
	SEQ_SEC_ACL_SETS,
	SEQ_SEC_ACL_RULES,
	SEQ_SEC_STATS,
	SEQ_SEC__COUNT
};

struct seq_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;     /* sizeof(struct seq_hdr) */
	uint64_t defs_version; /* the definitions' version this was built from */
	uint64_t built_ms;     /* CLOCK_REALTIME */
	struct seq_section sec[SEQ_SEC__COUNT];
	uint32_t pad[2];
};
static_assert(sizeof(struct seq_hdr) == 96, "seq_hdr is a shm layout");

struct seq_device {
	char name[SEQ_NAME_LEN]; /* NUL-terminated */
	uint8_t mac[6];
	uint8_t mode;           /* enum seq_mode */
	uint8_t state;          /* enum seq_dev_state */
	uint8_t addr[16];       /* NAT mode: the device's own address */
	uint32_t alternate;     /* device index or SEQ_NONE */
	uint32_t pad[3];
};
static_assert(sizeof(struct seq_device) == 72, "seq_device is a shm layout");

/* One step. The key is (ingress, dir, proto, addr, port in [port_lo, port_hi]),
 * refined by src_mac with SEQ_F_SRC_MAC. */
struct seq_entry {
	uint8_t addr[16];     /* forward: the destination; reply: the source */
	uint8_t addr2[16];    /* with SEQ_F_NAT: the address to write instead */
	uint8_t src_mac[6];   /* the expected sender, with SEQ_F_SRC_MAC */
	uint8_t dst_mac[6];   /* the next hop */
	uint16_t port_lo;     /* forward: dport; reply: sport */
	uint16_t port_hi;
	uint16_t xlat_from;   /* with SEQ_F_XLAT */
	uint16_t xlat_to;
	uint16_t flags;       /* SEQ_F_* */
	uint8_t proto;        /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t ingress;      /* engine port the packet arrives on */
	uint8_t egress;       /* engine port it leaves by */
	uint8_t dir;          /* enum seq_dir */
	uint8_t mode;         /* enum seq_mode of the next hop */
	uint8_t dscp;         /* with SEQ_F_DSCP, 0..63 */
	uint32_t device;      /* the device counted for this step (SEQ_NONE: none) */
	uint32_t stat;        /* statistics slot (service address and port) */
	uint32_t copy_first;  /* copies [copy_first, copy_first + copy_n) */
	uint32_t copy_n;
	uint32_t acl;         /* ACL set checked first, or SEQ_NONE */
	uint32_t next;        /* next entry of the bucket, or SEQ_NONE */
	uint32_t pad;
};
static_assert(sizeof(struct seq_entry) == 88, "seq_entry is a shm layout");

/* A copy of the packet (as it arrived) to a receiver such as an IDS. */
struct seq_copy {
	uint8_t dst_mac[6];
	uint8_t egress;
	uint8_t pad;
	uint32_t device;      /* the receiver, for statistics (or SEQ_NONE) */
};
static_assert(sizeof(struct seq_copy) == 12, "seq_copy is a shm layout");

enum seq_acl_action { SEQ_ACL_PERMIT = 0, SEQ_ACL_DENY = 1 };

/* The rules of one service on one ingress interface: first match wins. */
struct seq_acl_set {
	uint32_t first;
	uint32_t n;
	uint8_t deflt;        /* enum seq_acl_action when no rule matches */
	uint8_t pad[3];
};
static_assert(sizeof(struct seq_acl_set) == 12, "seq_acl_set is a shm layout");

struct seq_acl_rule {
	uint8_t addr[16];     /* client prefix (source of forward packets) */
	uint8_t mask[16];
	uint16_t port_lo;     /* destination (service) port range; 0-65535: any */
	uint16_t port_hi;
	uint8_t proto;        /* 0: any */
	uint8_t action;       /* enum seq_acl_action */
	uint8_t pad[2];
};
static_assert(sizeof(struct seq_acl_rule) == 40, "seq_acl_rule is a shm layout");

/* What a statistics slot stands for: one service address, protocol and port. */
struct seq_stat {
	uint8_t addr[16];
	uint16_t port;
	uint16_t port_hi;     /* dynamic range end (== port when none) */
	uint8_t proto;
	uint8_t pad[3];
	char service[SEQ_NAME_LEN];
};
static_assert(sizeof(struct seq_stat) == 56, "seq_stat is a shm layout");

/* ---- live statistics (`loom.<instance>.stats`) ---------------------------- */

/*
 * A plain shm segment (shm/seg.h) beside the sequence table: one region, a
 * header then one lane per worker. Each worker is the only writer of its
 * lane (relaxed atomic loads and stores, no locked instruction on the
 * packet path); the control thread writes the header. Readers (loomctl) sum
 * the lanes with relaxed loads: a sum may lag a burst, never tears.
 *
 * Statistics slot i is the snapshot's stats[i] (service address, protocol
 * and port); device i its devices[i]. Counter names are in the header, so a
 * reader needs no list of its own. Geometry word 0: the number of lanes.
 */
#define SEQ_STATS_KIND    0x53455153u /* "SEQS": SHM_KIND_SEQ_STATS in shm/seg.h */
#define SEQ_STATS_VERSION 1u
#define SEQ_STATS_MAGIC   0x31535441545351ULL /* "QSTATS1" */
#define SEQ_STATS_CTRS    32u
#define SEQ_STATS_SLOTS   1024u
#define SEQ_STATS_DEVICES 64u
#define SEQ_STATS_LANES   64u
#define SEQ_CTR_NAME_LEN  24u

struct seq_counter {
	_Atomic uint64_t packets;
	_Atomic uint64_t bytes;
};

struct seq_lane {
	_Atomic uint64_t ctr[SEQ_STATS_CTRS];
	struct seq_counter slot[SEQ_STATS_SLOTS];
	struct seq_counter device[SEQ_STATS_DEVICES];
};

/* What probes found of a device (the control thread writes it). */
struct seq_health {
	_Atomic uint32_t flags;      /* SEQ_H_* */
	uint32_t pad;
	_Atomic uint64_t sent, answered, changes;
	_Atomic uint64_t rtt_ns;     /* the last answer's round trip */
	_Atomic uint64_t last_ok_ms; /* CLOCK_REALTIME of the last answer, 0: never */
};

enum {
	SEQ_H_PROBED = 1u << 0,  /* probes run for it */
	SEQ_H_DOWN   = 1u << 1,  /* failed (configured or found by probes) */
	SEQ_H_STANDIN = 1u << 2, /* an alternate stands in for it */
};

struct seq_stats_hdr {
	uint64_t magic;
	uint32_t nlanes;             /* lanes in use (<= the geometry's) */
	uint32_t nctr;               /* counters in use per lane */
	_Atomic uint64_t updated_ms; /* CLOCK_REALTIME of the last header update */
	char ctr_name[SEQ_STATS_CTRS][SEQ_CTR_NAME_LEN]; /* NUL-terminated */
	struct seq_health health[SEQ_STATS_DEVICES];
};

/* Bytes of the region for n lanes (lanes start 64-byte aligned). */
static inline size_t seq_stats_size(uint32_t nlanes)
{
	return ((sizeof(struct seq_stats_hdr) + 63) & ~(size_t)63) +
	       (size_t)nlanes * sizeof(struct seq_lane);
}

/* Lane i of a region that holds at least i + 1 lanes. */
static inline struct seq_lane *seq_stats_lane(void *region, uint32_t i)
{
	return (struct seq_lane *)((uint8_t *)region +
				   ((sizeof(struct seq_stats_hdr) + 63) & ~(size_t)63)) + i;
}

/* ---- reading -------------------------------------------------------------- */

/* A validated snapshot: pointers into the block, valid while it is. */
struct seq_view {
	const struct seq_hdr *hdr;
	const struct seq_device *devices;
	const struct seq_entry *entries;
	const uint32_t *buckets;
	const struct seq_copy *copies;
	const struct seq_acl_set *acl_sets;
	const struct seq_acl_rule *acl_rules;
	const struct seq_stat *stats;
	uint32_t n_devices, n_entries, n_buckets, n_copies, n_acl_sets, n_acl_rules, n_stats;
};

/*
 * Check a block of len bytes (8-byte aligned) and fill v. Every section
 * must lie inside the block and every index inside its section; 0 or
 * -SEQ_E_*. Costs one pass over the block: do it once per published
 * generation, not per packet.
 */
int seq_view_init(struct seq_view *v, const void *block, size_t len);

/* Lookup results besides the entry. */
enum seq_miss {
	SEQ_MISS_NONE = 0,    /* nothing for this key: not a service packet */
	SEQ_MISS_SRC_MAC = 1, /* the key is known, but not from this sender */
};

/*
 * The step for a packet at ingress with the given direction, service-side
 * address (destination for forward, source for reply), protocol, port
 * (host order) and source MAC. An entry that checks the sender wins over
 * one that does not. NULL when there is none, with *miss saying why.
 */
const struct seq_entry *seq_lookup(const struct seq_view *v, unsigned ingress, unsigned dir,
				   const uint8_t addr[16], uint8_t proto, uint16_t port,
				   const uint8_t src_mac[6], enum seq_miss *miss);

/* Does ACL set `set` (a validated index, or SEQ_NONE: no ACL) let a forward
 * packet from saddr with this protocol and destination port (host) in? */
bool seq_acl_permit(const struct seq_view *v, uint32_t set, const uint8_t saddr[16],
		    uint8_t proto, uint16_t dport);

/* ---- building (the engine's control thread) ----------------------------- */

struct seq_builder;

struct seq_builder *seq_builder_new(void);
void seq_builder_free(struct seq_builder *b);

/* Each returns the new element's index, or -ENOMEM / -E2BIG. */
int seq_add_device(struct seq_builder *b, const struct seq_device *d);
int seq_add_stat(struct seq_builder *b, const struct seq_stat *s);
int seq_add_acl_set(struct seq_builder *b, enum seq_acl_action deflt,
		    const struct seq_acl_rule *rules, uint32_t n);
/*
 * Add a step with its copies (e->copy_first/copy_n/next are filled here).
 * -EEXIST when an entry already takes the same key (same ingress,
 * direction, protocol and address, an overlapping port range, and the same
 * sender check): the packet would be ambiguous. *clash (may be NULL) then
 * holds the index of that entry. -EINVAL for out-of-range fields.
 */
int seq_add_entry(struct seq_builder *b, const struct seq_entry *e,
		  const struct seq_copy *copies, uint32_t ncopies, uint32_t *clash);
/* The entry at idx as added (for messages), or NULL. */
const struct seq_entry *seq_builder_entry(const struct seq_builder *b, uint32_t idx);

/* Bytes the snapshot needs. */
size_t seq_builder_size(const struct seq_builder *b);
/*
 * Write the snapshot into out (8-byte aligned, at least seq_builder_size()
 * bytes): 0, or -ENOSPC.
 */
int seq_builder_write(const struct seq_builder *b, void *out, size_t len,
		      uint64_t defs_version, uint64_t built_ms);

#endif
