// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "shm-internal.h"
#include "shm/rcu.h"
#include "shm/seg.h"

/* Debian 12's C library headers predate these */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

struct shm_seg {
	int fd;
	bool writer;
	uint64_t size;
	struct shm_seg_hdr *hdr;       /* page 0, read-write in the writer, read-only in readers */
	struct shm_rcu_area *rcu;      /* read-write for everyone */
	uint64_t rcu_size;
	uint32_t rcu_slots;
	uint32_t nregions;
	void *region[SHM_MAX_REGIONS];
	uint64_t region_off[SHM_MAX_REGIONS];
	uint64_t region_size[SHM_MAX_REGIONS];
	uint32_t region_flags[SHM_MAX_REGIONS];
	uint64_t geometry[SHM_GEOM_WORDS]; /* private copy, validated at attach */
	uint64_t huge_bytes;               /* on 2 MB pages by shm_seg_collapse */
	int collapse_errno;                /* why a region stayed on 4 KB pages; 0: none did */
};

static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > SHM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int shm_seg_path(const char *instance, const char *table, char *buf, size_t len)
{
	if (!name_ok(instance) || !name_ok(table))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "/loom.%s.%s", instance, table) >= len)
		return -ENAMETOOLONG;
	return 0;
}

uint64_t shm_proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields restart after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* after ')' come field 3 (state) .. field 22 (starttime): skip 19 fields */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
	}
	return strtoull(p + 1, NULL, 10);
}

uint64_t shm_owner_self(void)
{
	static _Atomic uint64_t self;
	static _Atomic pid_t self_pid;
	pid_t pid = getpid();

	/* recompute after fork: the child is another owner */
	if (atomic_load(&self_pid) != pid || atomic_load(&self) == 0) {
		uint64_t st = shm_proc_start_time(pid);
		atomic_store(&self, shm_owner_pack((uint32_t)pid, st));
		atomic_store(&self_pid, pid);
	}
	return atomic_load(&self);
}

int shm_owner_dead(uint64_t owner, uint32_t tid)
{
	pid_t pid = (pid_t)shm_owner_pid(owner);

	if (pid <= 0)
		return 1;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	/* pid exists: is it the same process, or a reused pid? */
	uint64_t st = shm_proc_start_time(pid);
	if (st == 0 || (st & ((1ULL << 42) - 1)) != shm_owner_start(owner))
		return 1;
	if (tid != 0 && syscall(SYS_tgkill, pid, (pid_t)tid, 0) < 0 && errno == ESRCH)
		return 1;
	return 0;
}

/* A part this big is mapped for 2 MB pages and collapsed into them. */
static bool huge_sized(uint64_t size)
{
	return size >= 2 * SHM_HUGE;
}

/*
 * Map [off, off + size) of the segment. A huge_sized() part is placed at an
 * address congruent to its offset modulo SHM_HUGE, so that the file's 2 MB
 * pages, where it has them (shm_seg_collapse), are mapped whole.
 */
static int map_part(struct shm_seg *s, uint64_t off, uint64_t size, bool rw, void **out)
{
	int prot = rw ? PROT_READ | PROT_WRITE : PROT_READ;
	uint8_t *room;
	void *p;

	if (!huge_sized(size)) {
		p = mmap(NULL, size, prot, MAP_SHARED, s->fd, (off_t)off);
		if (p == MAP_FAILED)
			return -errno;
		*out = p;
		return 0;
	}
	/* reserve room for any alignment, then map over the right place in it */
	room = mmap(NULL, size + SHM_HUGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (room == MAP_FAILED)
		return -errno;
	uintptr_t at = ((uintptr_t)room & ~(uintptr_t)(SHM_HUGE - 1)) + (off & (SHM_HUGE - 1));
	if (at < (uintptr_t)room)
		at += SHM_HUGE;
	p = mmap((void *)at, size, prot, MAP_SHARED | MAP_FIXED, s->fd, (off_t)off);
	if (p == MAP_FAILED) {
		int e = -errno;
		munmap(room, size + SHM_HUGE);
		return e;
	}
	if (at > (uintptr_t)room)
		munmap(room, at - (uintptr_t)room);
	uintptr_t end = at + size, room_end = (uintptr_t)room + size + SHM_HUGE;
	if (room_end > end)
		munmap((void *)end, room_end - end);
	*out = p;
	return 0;
}

uint64_t shm_seg_collapse(struct shm_seg *s)
{
	uint64_t done = 0;

	s->collapse_errno = 0;
	for (unsigned i = 0; i < s->nregions; i++) {
		uintptr_t a = (uintptr_t)s->region[i], end = a + s->region_size[i];
		uintptr_t first = (a + SHM_HUGE - 1) & ~(uintptr_t)(SHM_HUGE - 1);
		uintptr_t last = end & ~(uintptr_t)(SHM_HUGE - 1);

		if (!huge_sized(s->region_size[i]))
			continue;
		/* 2 MB at a time, so the 4 KB copies live only that long; each
		 * populated first (a range of holes is not collapsed: EINVAL),
		 * which also allocates the whole region now: the data path
		 * takes no page fault later. EINVAL: a kernel without it
		 * (before 6.1, no THP); EAGAIN, ENOMEM: no huge page to be
		 * had. Either way the rest stays on 4 KB pages and works. */
		for (uintptr_t p = first; p < last; p += SHM_HUGE) {
			if (madvise((void *)p, SHM_HUGE, MADV_POPULATE_WRITE) < 0 ||
			    madvise((void *)p, SHM_HUGE, MADV_COLLAPSE) < 0) {
				s->collapse_errno = errno;
				break;
			}
			done += SHM_HUGE;
		}
	}
	s->huge_bytes = done;
	return done;
}

int shm_seg_collapse_errno(const struct shm_seg *s)
{
	return s->collapse_errno;
}

uint64_t shm_seg_huge_bytes(const struct shm_seg *s)
{
	return s->huge_bytes;
}

static void unmap_all(struct shm_seg *s)
{
	for (unsigned i = 0; i < SHM_MAX_REGIONS; i++)
		if (s->region[i])
			munmap(s->region[i], s->region_size[i]);
	if (s->rcu)
		munmap(s->rcu, s->rcu_size);
	if (s->hdr)
		munmap(s->hdr, SHM_PAGE);
}

void shm_seg_close(struct shm_seg *s)
{
	if (!s)
		return;
	if (s->writer && s->hdr) {
		uint64_t self = shm_owner_self();
		atomic_compare_exchange_strong(&s->hdr->writer, &self, 0);
	}
	unmap_all(s);
	if (s->fd >= 0)
		close(s->fd); /* drops the writer's flock */
	free(s);
}

/*
 * Check a header against what the caller expects and against the object's
 * real size. Everything the process uses later is copied out of the header
 * here, so a header rewritten after attach cannot move us out of bounds.
 */
static int validate(struct shm_seg *s, const struct shm_seg_hdr *h, uint32_t kind,
		    uint32_t kind_version)
{
	if (h->magic != SHM_MAGIC)
		return -EPROTO;
	if (h->hdr_version != SHM_HDR_VERSION)
		return -EPROTO;
	if (h->kind != kind || h->kind_version != kind_version)
		return -EPROTO;
	if (atomic_load(&((struct shm_seg_hdr *)(uintptr_t)h)->state) != SHM_ST_READY)
		return -EAGAIN;
	if (h->seg_size != s->size || h->nregions > SHM_MAX_REGIONS)
		return -EPROTO;
	if (h->rcu_off != SHM_PAGE || h->rcu_slots == 0 || h->rcu_slots > 4096 ||
	    h->rcu_size != shm_round_page(shm_rcu_area_size(h->rcu_slots)))
		return -EPROTO;

	uint64_t end = h->rcu_off + h->rcu_size;
	for (unsigned i = 0; i < h->nregions; i++) {
		const struct shm_region_desc *r = &h->region[i];
		if (r->off != end || r->size == 0 || r->size % SHM_PAGE ||
		    r->size > s->size || r->off > s->size - r->size)
			return -EPROTO;
		end = r->off + r->size;
		s->region_off[i] = r->off;
		s->region_size[i] = r->size;
		s->region_flags[i] = r->flags;
	}
	if (end != s->size)
		return -EPROTO;
	s->rcu_size = h->rcu_size;
	s->rcu_slots = h->rcu_slots;
	s->nregions = h->nregions;
	memcpy(s->geometry, h->geometry, sizeof(s->geometry));
	return 0;
}

static int map_regions(struct shm_seg *s)
{
	int r = map_part(s, SHM_PAGE, s->rcu_size, true, (void **)&s->rcu);

	if (r < 0) {
		s->rcu = NULL;
		return r;
	}
	if (s->rcu->nslots != s->rcu_slots)
		return -EPROTO;
	for (unsigned i = 0; i < s->nregions; i++) {
		bool rw = s->writer || (s->region_flags[i] & SHM_REGION_READER_RW);

		r = map_part(s, s->region_off[i], s->region_size[i], rw, &s->region[i]);
		if (r < 0) {
			s->region[i] = NULL;
			return r;
		}
	}
	return 0;
}

static int attach(int fd, uint32_t kind, uint32_t kind_version, bool writer, struct shm_seg **out)
{
	struct shm_seg *s = calloc(1, sizeof(*s));
	struct stat st;
	int r;

	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	s->writer = writer;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (st.st_size < (off_t)(2 * SHM_PAGE)) {
		r = st.st_size == 0 ? -EAGAIN : -EPROTO;
		goto fail;
	}
	s->size = (uint64_t)st.st_size;
	r = map_part(s, 0, SHM_PAGE, writer, (void **)&s->hdr);
	if (r < 0) {
		s->hdr = NULL;
		goto fail;
	}
	r = validate(s, s->hdr, kind, kind_version);
	if (r < 0)
		goto fail;
	r = map_regions(s);
	if (r < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	unmap_all(s);
	close(fd);
	free(s);
	return r;
}

int shm_seg_attach_fd(int fd, uint32_t kind, uint32_t kind_version, bool writer,
		      struct shm_seg **out)
{
	return attach(fd, kind, kind_version, writer, out);
}

int shm_seg_open_reader(const char *instance, const char *table, uint32_t kind,
			uint32_t kind_version, struct shm_seg **out)
{
	char path[80];
	int r = shm_seg_path(instance, table, path, sizeof(path));

	if (r < 0)
		return r;
	/* read-write: a reader publishes its state in the RCU registry */
	int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	return attach(fd, kind, kind_version, false, out);
}

static uint64_t layout_size(const struct shm_layout *l, uint64_t *rcu_size)
{
	uint64_t size = SHM_PAGE;

	*rcu_size = shm_round_page(shm_rcu_area_size(l->rcu_slots));
	size += *rcu_size;
	for (unsigned i = 0; i < l->nregions; i++)
		size += shm_round_page(l->region_size[i]);
	return size;
}

static int init_fresh(int fd, const char *instance, const char *table, const struct shm_layout *l)
{
	uint64_t rcu_size, size = layout_size(l, &rcu_size);
	struct shm_seg_hdr *h;
	struct timespec ts;

	/* a fresh object (or one whose creator died before it was READY):
	 * truncate to zero first so no stale byte survives */
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)
		return -errno;
	h = mmap(NULL, SHM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -errno;

	h->hdr_version = SHM_HDR_VERSION;
	h->kind = l->kind;
	h->kind_version = l->kind_version;
	h->nregions = l->nregions;
	h->seg_size = size;
	snprintf(h->instance, sizeof(h->instance), "%s", instance);
	snprintf(h->table, sizeof(h->table), "%s", table);
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_realtime_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	h->rcu_off = SHM_PAGE;
	h->rcu_size = rcu_size;
	h->rcu_slots = l->rcu_slots;
	uint64_t off = SHM_PAGE + rcu_size;
	for (unsigned i = 0; i < l->nregions; i++) {
		h->region[i].off = off;
		h->region[i].size = shm_round_page(l->region_size[i]);
		h->region[i].flags = l->region_flags[i];
		off += h->region[i].size;
	}
	memcpy(h->geometry, l->geometry, sizeof(h->geometry));

	struct shm_rcu_area *a = mmap(NULL, rcu_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				      SHM_PAGE);
	if (a == MAP_FAILED) {
		int e = -errno;
		munmap(h, SHM_PAGE);
		return e;
	}
	shm_rcu_area_init(a, l->rcu_slots);
	munmap(a, rcu_size);

	/* the magic and READY go last: until then readers see -EAGAIN */
	h->magic = SHM_MAGIC;
	atomic_store_explicit(&h->state, SHM_ST_READY, memory_order_release);
	munmap(h, SHM_PAGE);
	return 0;
}

/* Describe how an existing segment differs from the layout asked for. */
static int check_existing(int fd, const char *path, const struct shm_layout *l)
{
	struct shm_seg_hdr h;
	uint64_t rcu_size;

	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return 1; /* too short: recreate */
	if (h.magic != SHM_MAGIC || atomic_load(&h.state) != SHM_ST_READY)
		return 1; /* its creator died before finishing: recreate */
	if (h.hdr_version != SHM_HDR_VERSION || h.kind != l->kind ||
	    h.kind_version != l->kind_version)
		return log_debug_errno(-EEXIST, "%s has layout kind %u v%u (header v%u), "
				       "we use kind %u v%u (header v%u)", path, h.kind,
				       h.kind_version, h.hdr_version, l->kind, l->kind_version,
				       SHM_HDR_VERSION);
	if (memcmp(h.geometry, l->geometry, sizeof(h.geometry)) != 0 ||
	    h.rcu_slots != l->rcu_slots || h.nregions != l->nregions ||
	    h.seg_size != layout_size(l, &rcu_size))
		return log_debug_errno(-EEXIST, "%s exists with another geometry (table sizes "
				       "changed?): remove it or keep the old sizes", path);
	return 0;
}

int shm_seg_open_writer(const char *instance, const char *table,
			const struct shm_layout *layout, const struct shm_perm *perm,
			struct shm_seg **out, bool *created)
{
	mode_t mode = perm && perm->mode ? perm->mode : 0600;
	char path[80];
	int r, fd;

	if (layout->nregions > SHM_MAX_REGIONS || layout->rcu_slots == 0 ||
	    layout->rcu_slots > 4096 || (mode & ~0660u) != 0)
		return -EINVAL;
	r = shm_seg_path(instance, table, path, sizeof(path));
	if (r < 0)
		return r;
	fd = shm_open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return r;
	}
	/* umask may have narrowed the mode; the group may need setting */
	if (perm && perm->gid != (gid_t)-1 && (mode & 0060) && fchown(fd, (uid_t)-1, perm->gid) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		close(fd);
		return r;
	}

	r = check_existing(fd, path, layout);
	if (r < 0) {
		close(fd);
		return r;
	}
	*created = r == 1;
	if (*created) {
		r = init_fresh(fd, instance, table, layout);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	r = attach(fd, layout->kind, layout->kind_version, true, out);
	if (r < 0)
		return r;
	struct shm_seg_hdr *h = (*out)->hdr;
	atomic_fetch_add(&h->generation, 1);
	atomic_store(&h->writer, shm_owner_self());
	if (perm && perm->huge_pages) {
		shm_seg_collapse(*out);
		if ((*out)->collapse_errno)
			log_notice("%s: %" PRIu64 " MB on 2 MB pages, the rest on 4 KB pages: %s",
				   path, (*out)->huge_bytes >> 20, strerror((*out)->collapse_errno));
	}
	return 0;
}

int shm_seg_unlink(const char *instance, const char *table)
{
	char path[80];
	int r = shm_seg_path(instance, table, path, sizeof(path));

	if (r < 0)
		return r;
	return shm_unlink(path) < 0 ? -errno : 0;
}

bool shm_seg_is_writer(const struct shm_seg *s)
{
	return s->writer;
}

const uint64_t *shm_seg_geometry(const struct shm_seg *s)
{
	return s->geometry;
}

void *shm_seg_region(const struct shm_seg *s, unsigned i, size_t *size)
{
	if (i >= s->nregions)
		return NULL;
	if (size)
		*size = s->region_size[i];
	return s->region[i];
}

uint32_t shm_seg_region_flags(const struct shm_seg *s, unsigned i)
{
	return i < s->nregions ? s->region_flags[i] : 0;
}

struct shm_rcu_area *shm_seg_rcu(const struct shm_seg *s)
{
	return s->rcu;
}

uint32_t shm_seg_rcu_slots(const struct shm_seg *s)
{
	return s->rcu_slots;
}

uint32_t shm_seg_generation(const struct shm_seg *s)
{
	return atomic_load(&s->hdr->generation);
}

pid_t shm_seg_writer_pid(const struct shm_seg *s)
{
	return (pid_t)shm_owner_pid(atomic_load(&s->hdr->writer));
}
