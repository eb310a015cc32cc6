/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Named shared-memory segments.
 *
 * Every Loom table lives in a POSIX shared-memory object called
 * /dev/shm/loom.<instance>.<table>, so a restarted daemon, a standby on the
 * same host and loomctl can attach to it by name.
 *
 * A segment is laid out as page-aligned parts:
 *
 *   page 0          struct shm_seg_hdr: magic, layout versions, size,
 *                   owner (pid, start time, generation), region table,
 *                   the table kind's immutable geometry
 *   RCU registry    reader slots (see rcu.h); mapped read-write by everyone
 *                   who reads, since readers publish their state there
 *   regions 0..n-1  the table's own parts. A region flagged
 *                   SHM_REGION_READER_RW is mapped writable for readers too
 *                   (per-worker counters); every other region is mapped
 *                   read-only in readers, so a reader cannot scribble on
 *                   shared structure even by mistake.
 *
 * One writer at a time holds an exclusive flock(2) on the object. The kernel
 * drops that lock when the writer dies however it dies, which is how the
 * next writer knows it may take over (and must repair: see table.h).
 *
 * Everything inside a segment is reached by offsets from its base; every
 * offset is checked against the sizes fixed at attach time, never against
 * values re-read from the (possibly hostile) segment.
 */
#ifndef LOOM_SHM_SEG_H
#define LOOM_SHM_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SHM_MAGIC 0x314d48534d4f4f4cULL /* "LOOMSHM1" little-endian */
#define SHM_HDR_VERSION 1
#define SHM_NAME_MAX 31
#define SHM_MAX_REGIONS 6
#define SHM_GEOM_WORDS 16

/* Table kinds. Numbers are part of the on-shm layout: never reuse one. */
enum shm_kind {
	SHM_KIND_HASH = 1, /* fixed-entry hash table (table.h) */
	SHM_KIND_SNAP = 2, /* published snapshots (snap.h) */
	/* a daemon's own raw layout, named by a four-character code in ASCII
	 * so a reader that meets another's refuses it by name */
	SHM_KIND_SEQ_STATS = 0x53455153, /* "SEQS": loom-pkt-engine's statistics */
};

enum shm_region_flags {
	SHM_REGION_READER_RW = 1u << 0,
};

enum shm_seg_state {
	SHM_ST_INIT = 0,  /* being created: readers must not attach */
	SHM_ST_READY = 1,
};

/* Who may open the segment: owner only (0600) or a group too (0660); and
 * how its writer backs it. */
struct shm_perm {
	mode_t mode;     /* 0600 or 0660; 0 means 0600 */
	gid_t gid;       /* used when mode grants group access; (gid_t)-1 keeps the default */
	bool huge_pages; /* the writer puts big regions on 2 MB pages (shm_seg_collapse) */
};

/* What a table kind asks of the segment when it is created. */
struct shm_layout {
	uint32_t kind;
	uint32_t kind_version;
	uint32_t rcu_slots;                 /* reader slots in the registry */
	uint32_t nregions;
	uint64_t region_size[SHM_MAX_REGIONS];
	uint32_t region_flags[SHM_MAX_REGIONS];
	uint64_t geometry[SHM_GEOM_WORDS];  /* immutable, kind-specific */
};

struct shm_seg;

/*
 * Open (creating if needed) the segment as its writer.
 *
 * Fails with -EBUSY if another live process is the writer, -EEXIST if a
 * segment of that name exists with another kind, version or geometry (the
 * message names what differs), -EINVAL for a bad name. On success *created
 * says whether the segment is new; if not, the caller must repair it before
 * publishing anything (the previous writer may have died at any point).
 * May block briefly; call from the control thread at start-up.
 */
int shm_seg_open_writer(const char *instance, const char *table,
			const struct shm_layout *layout, const struct shm_perm *perm,
			struct shm_seg **out, bool *created);

/*
 * Attach as a reader. The kind and kind_version must match exactly
 * (-EPROTO otherwise: an unknown layout is refused, never guessed at).
 * -ENOENT if there is no such segment, -EAGAIN if it is still being
 * created. Readers may live in any process.
 */
int shm_seg_open_reader(const char *instance, const char *table, uint32_t kind,
			uint32_t kind_version, struct shm_seg **out);

/* The same on an already open descriptor (tests, fuzzing). Takes over fd. */
int shm_seg_attach_fd(int fd, uint32_t kind, uint32_t kind_version, bool writer,
		      struct shm_seg **out);

/* Unmap and close. A writer leaves the segment in place for its successor. */
void shm_seg_close(struct shm_seg *seg);

/* Remove the name (the memory lives on until the last process unmaps it). */
int shm_seg_unlink(const char *instance, const char *table);

/* Build "/loom.<instance>.<table>"; -EINVAL if a name is empty, too long or
 * has characters outside [A-Za-z0-9_-]. */
int shm_seg_path(const char *instance, const char *table, char *buf, size_t len);

bool shm_seg_is_writer(const struct shm_seg *seg);
/* The geometry words, as validated and copied at attach time. */
const uint64_t *shm_seg_geometry(const struct shm_seg *seg);
/* Base and size of region i as mapped in this process (NULL if none). */
void *shm_seg_region(const struct shm_seg *seg, unsigned i, size_t *size);
/* The flags region i was created with (as validated at attach). A kind
 * must check they are the ones it expects before using the region. */
uint32_t shm_seg_region_flags(const struct shm_seg *seg, unsigned i);
/* The RCU registry of this segment (see rcu.h). */
struct shm_rcu_area *shm_seg_rcu(const struct shm_seg *seg);
uint32_t shm_seg_rcu_slots(const struct shm_seg *seg);
/*
 * Put every region of 4 MB or more on 2 MB pages (MADV_COLLAPSE, Linux 6.1),
 * whatever /dev/shm's huge= option, allocating all of it now. A random
 * lookup in a table of hundreds of MB then needs no page walk: with 4 KB
 * pages every one did, and the lookups' prefetches waited for them
 * (docs/performance.md). Every process maps such regions 2 MB-aligned to
 * the file, so readers share the big pages. Returns the bytes on 2 MB
 * pages; shm_seg_collapse_errno() says why a region stayed on 4 KB pages
 * (0: none did). A writer does this at open when its shm_perm.huge_pages
 * is set, and logs a region left on 4 KB pages.
 */
uint64_t shm_seg_collapse(struct shm_seg *seg);
int shm_seg_collapse_errno(const struct shm_seg *seg);
uint64_t shm_seg_huge_bytes(const struct shm_seg *seg);
/* Writer generation: incremented by every writer that attaches. */
uint32_t shm_seg_generation(const struct shm_seg *seg);
/* pid of the current writer as recorded in the header (0 if none). */
pid_t shm_seg_writer_pid(const struct shm_seg *seg);

/* Start time of a process in clock ticks since boot (/proc/<pid>/stat field
 * 22), used to tell a live process from a reused pid. 0 if it is gone. */
uint64_t shm_proc_start_time(pid_t pid);

#endif
