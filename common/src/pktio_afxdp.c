// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pktio "afxdp" back end: AF_XDP sockets fed by one XDP program per
 * interface (common/bpf/xdp_redirect.bpf.c, embedded at build time).
 *
 * Layout. One socket per (port, queue), bound to the device's RX/TX queue
 * q, each with its own UMEM: the first rx_frames frames are RX buffers
 * (always either in the fill ring, in the kernel, in the RX ring or lent
 * to the worker), the next tx_frames are TX buffers (on a free stack, or in
 * the TX ring / in flight until the completion ring returns them). Queue
 * q's worker owns socket (p, q) of every port p, so nothing is shared.
 *
 * The device steers flows to queues (RSS on a NIC, the sender's TX queue on
 * veth); the XDP program redirects queue q's packets to socket q through
 * an XSKMAP. So the number of pktio queues must equal the device's RX
 * queue count: with fewer sockets the packets of the other queues would
 * bypass the forwarder, with more some would never see a packet. open
 * refuses a mismatch with -ECHRNG (fix with ethtool -L, or create veths
 * with numrxqueues/numtxqueues).
 *
 * Only unicast IPv4/IPv6 to addresses not of this host is redirected; the
 * kernel keeps ARP, neighbour discovery, multicast and its own traffic
 * (the program's header says why). Redirected packets never reach the
 * kernel stack, unlike AF_PACKET's copies, so no ingress filter is needed.
 * The host addresses are read once at open (getifaddrs of the namespace).
 *
 * No offload metadata: the kernel hands over whole frames up to the frame
 * size minus XDP's 256-byte headroom, never GSO super-packets and never
 * partial checksums (native XDP on a veth turns its peer's GSO off; generic
 * XDP drops a super-packet that does not fit). On TX a partial checksum is
 * completed in the TX frame.
 *
 * Copy mode (veth, and drivers without zero-copy): sendto() transmits at
 * most 32 descriptors per call and the TX need-wakeup flag stays set, so
 * the TX kick is repeated while the ring still holds unsent descriptors
 * (LAB-FACTS 5: one kick per burst stalls TCP). wait() kicks too, so
 * descriptors left by a bounded kick loop are not stranded.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/log.h"
#include "common/pkt.h"
#include "pktio-internal.h"
#include "xdp_redirect.bpf.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define AXP_DEF_FRAMES  1024u
#define AXP_MAX_FRAMES  (1u << 16)
#define AXP_FRAME       4096u
/* The kernel puts XDP_PACKET_HEADROOM in front of every received packet. */
#define AXP_RX_HEADROOM 256u
/* sendto() in copy mode moves at most 32 descriptors (the kernel's
 * TX_BATCH_SIZE); enough kicks for a full ring, plus slack for retries. */
#define AXP_TX_BATCH    32u

/* One mapped ring. For producer rings (fill, TX) `cached` is our producer
 * index; for consumer rings (RX, completion) our consumer index. */
struct axp_ring {
	uint32_t *producer;
	uint32_t *consumer;
	uint32_t *flags;
	void *desc;
	uint32_t mask;
	uint32_t cached;
	void *map;
	size_t map_len;
};

struct axp_sock {
	int fd;
	uint8_t *umem;
	size_t umem_len;
	struct axp_ring fill, comp, rx, tx;
	uint64_t rx_end;        /* RX frames are [0, rx_end), TX frames [rx_end, umem_len) */
	uint64_t *tx_free;      /* stack of free TX frame addresses */
	uint32_t n_tx_free;
	uint32_t n_held;        /* RX frames lent by the last burst */
	uint64_t held[PKTIO_MAX_BURST];
	uint64_t drops_seen;    /* kernel's cumulative drop count already folded in */
};

struct axp_queue {
	struct axp_sock s[PKTIO_MAX_PORTS];
	struct pollfd pfd[PKTIO_MAX_PORTS + 1]; /* + the wake descriptor */
	unsigned first_port;    /* rotates, so one busy port cannot starve the others */
} LOOM_ALIGNED_CL;

struct axp_port {
	int ifindex;
	struct bpf_object *obj;
	int link_fd;            /* the XDP attachment; closing it detaches */
};

struct axp_be {
	uint32_t frame_size;
	uint32_t rx_frames;
	uint32_t tx_frames;
	struct axp_port ports[PKTIO_MAX_PORTS];
	struct axp_queue *qs;
};

/* --- rings ------------------------------------------------------------------ */

static void axp_pause_ms(long ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline uint32_t load_acq(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_rel(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t *ring_addr(struct axp_ring *r, uint32_t i)
{
	return &((uint64_t *)r->desc)[i & r->mask];
}

static inline struct xdp_desc *ring_desc(struct axp_ring *r, uint32_t i)
{
	return &((struct xdp_desc *)r->desc)[i & r->mask];
}

/* Descriptors the TX ring holds that the kernel has not taken yet. */
static inline uint32_t tx_pending(const struct axp_sock *s)
{
	return s->tx.cached - load_acq(s->tx.consumer);
}

static int axp_ring_map(struct axp_ring *r, int fd, const struct xdp_ring_offset *off,
			uint32_t size, size_t desc_size, off_t pgoff)
{
	r->map_len = off->desc + size * desc_size;
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		      fd, pgoff);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->producer = (uint32_t *)((uint8_t *)r->map + off->producer);
	r->consumer = (uint32_t *)((uint8_t *)r->map + off->consumer);
	r->flags = (uint32_t *)((uint8_t *)r->map + off->flags);
	r->desc = (uint8_t *)r->map + off->desc;
	r->mask = size - 1;
	return 0;
}

static void axp_ring_unmap(struct axp_ring *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	r->map = NULL;
}

/* --- one socket ------------------------------------------------------------- */

static void axp_sock_close(struct axp_sock *s)
{
	/* Closing the socket also removes it from the XSKMAP. */
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	axp_ring_unmap(&s->fill);
	axp_ring_unmap(&s->comp);
	axp_ring_unmap(&s->rx);
	axp_ring_unmap(&s->tx);
	if (s->umem)
		munmap(s->umem, s->umem_len);
	s->umem = NULL;
	free(s->tx_free);
	s->tx_free = NULL;
}

static int setopt_u32(int fd, int name, uint32_t v)
{
	return setsockopt(fd, SOL_XDP, name, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int axp_sock_open(struct axp_be *be, struct axp_sock *s, int ifindex, unsigned q,
			 int xsks_fd)
{
	const uint64_t fs = be->frame_size;
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	struct xdp_umem_reg reg;
	struct sockaddr_xdp sxdp = {
		.sxdp_family = AF_XDP,
		.sxdp_ifindex = (uint32_t)ifindex,
		.sxdp_queue_id = q,
		/* Neither XDP_COPY nor XDP_ZEROCOPY: the kernel tries
		 * zero-copy and falls back to copy (veth: copy). */
		.sxdp_flags = XDP_USE_NEED_WAKEUP,
	};
	uint32_t key = q;
	int fd, rc;

	s->rx_end = be->rx_frames * fs;
	s->umem_len = (size_t)(be->rx_frames + be->tx_frames) * fs;
	s->umem = mmap(NULL, s->umem_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (s->umem == MAP_FAILED) {
		s->umem = NULL;
		return -ENOMEM;
	}
	s->tx_free = malloc(sizeof(*s->tx_free) * be->tx_frames);
	if (!s->tx_free)
		return -ENOMEM;
	for (uint32_t i = 0; i < be->tx_frames; i++)
		s->tx_free[i] = s->umem_len - (uint64_t)(i + 1) * fs;
	s->n_tx_free = be->tx_frames;

	fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	s->fd = fd;
	reg = (struct xdp_umem_reg){
		.addr = (uint64_t)(uintptr_t)s->umem,
		.len = s->umem_len,
		.chunk_size = be->frame_size,
	};
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) < 0)
		return -errno;
	if ((rc = setopt_u32(fd, XDP_UMEM_FILL_RING, be->rx_frames)) < 0 ||
	    (rc = setopt_u32(fd, XDP_UMEM_COMPLETION_RING, be->tx_frames)) < 0 ||
	    (rc = setopt_u32(fd, XDP_RX_RING, be->rx_frames)) < 0 ||
	    (rc = setopt_u32(fd, XDP_TX_RING, be->tx_frames)) < 0)
		return rc;
	if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) < 0)
		return -errno;
	if ((rc = axp_ring_map(&s->fill, fd, &off.fr, be->rx_frames, sizeof(uint64_t),
			       XDP_UMEM_PGOFF_FILL_RING)) < 0 ||
	    (rc = axp_ring_map(&s->comp, fd, &off.cr, be->tx_frames, sizeof(uint64_t),
			       XDP_UMEM_PGOFF_COMPLETION_RING)) < 0 ||
	    (rc = axp_ring_map(&s->rx, fd, &off.rx, be->rx_frames, sizeof(struct xdp_desc),
			       XDP_PGOFF_RX_RING)) < 0 ||
	    (rc = axp_ring_map(&s->tx, fd, &off.tx, be->tx_frames, sizeof(struct xdp_desc),
			       XDP_PGOFF_TX_RING)) < 0)
		return rc;
	s->fill.cached = *s->fill.producer;
	s->tx.cached = *s->tx.producer;
	s->rx.cached = *s->rx.consumer;
	s->comp.cached = *s->comp.consumer;

	/* Every RX frame starts in the fill ring (it holds exactly all). */
	for (uint32_t i = 0; i < be->rx_frames; i++)
		*ring_addr(&s->fill, s->fill.cached++) = i * fs;
	store_rel(s->fill.producer, s->fill.cached);

	/* a socket closed a moment ago may still hold the queue: the kernel
	 * releases it after an RCU grace period (an upgrade restart, a reopen) */
	for (int tries = 0; bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) < 0; tries++) {
		if (errno != EBUSY || tries == 100)
			return -errno;
		axp_pause_ms(10);
	}
	if (bpf_map_update_elem(xsks_fd, &key, &fd, BPF_ANY) < 0)
		return -errno;
	return 0;
}

/* Take back the TX frames the kernel has finished with. */
static void axp_reclaim(struct axp_sock *s)
{
	uint32_t prod = load_acq(s->comp.producer);

	while (s->comp.cached != prod) {
		uint64_t a = *ring_addr(&s->comp, s->comp.cached++);

		/* Only our own TX frames, and never more than we own. */
		if (a >= s->rx_end && a < s->umem_len && s->n_tx_free <= s->tx.mask)
			s->tx_free[s->n_tx_free++] = a;
	}
	store_rel(s->comp.consumer, s->comp.cached);
}

/*
 * Push the TX ring out. In copy mode each sendto() sends at most 32
 * descriptors and the need-wakeup flag stays set: repeat while the flag
 * asks for it and descriptors remain, bounded so a device that keeps
 * refusing cannot hold the worker (wait() kicks again).
 */
static void axp_kick_tx(struct pktio *io, unsigned q, struct axp_sock *s)
{
	unsigned tries = (s->tx.mask + 1) / AXP_TX_BATCH + 4;

	while (tries-- && tx_pending(s) &&
	       (__atomic_load_n(s->tx.flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP)) {
		if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			continue;
		if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS || errno == EINTR) {
			/* Completion ring full or device busy: make room. */
			axp_reclaim(s);
			continue;
		}
		pktio_stat_add(io, q, PKTIO_ST_TX_ERRORS, 1);
		break;
	}
	axp_reclaim(s);
}

/* --- open / close ----------------------------------------------------------- */

LOOM_PRINTF(2, 0)
static int axp_libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	/* Library code logs at debug only. */
	log_vmsg(LOG_LVL_DEBUG, fmt, ap);
	return 0;
}

/* The device's RX and TX queue counts (1/1 when the driver cannot say). */
static int dev_queues(const char *ifname, unsigned *rxq, unsigned *txq)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	int fd, rc = 0;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
		if (errno == EOPNOTSUPP) {
			ch = (struct ethtool_channels){ .rx_count = 1, .tx_count = 1 };
		} else {
			rc = -errno;
		}
	}
	close(fd);
	*rxq = ch.rx_count + ch.combined_count;
	*txq = ch.tx_count + ch.combined_count;
	return rc;
}

/* Every address of this namespace goes into the port's local_addrs map,
 * so the program passes traffic for the host to the kernel. */
static int fill_local_addrs(int map_fd)
{
	struct ifaddrs *ifa, *i;
	uint8_t one = 1;
	int rc = 0;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i && rc == 0; i = i->ifa_next) {
		uint8_t k[16] = { 0 };

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			k[10] = k[11] = 0xff;
			memcpy(&k[12], &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			memcpy(k, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		/* A full map (over 1024 addresses) is an error, not a silent
		 * hole through which host traffic would be stolen. */
		if (bpf_map_update_elem(map_fd, k, &one, BPF_ANY) < 0)
			rc = -errno;
	}
	freeifaddrs(ifa);
	return rc;
}

static int axp_port_load(struct axp_port *pt, int *xsks_fd)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "loom_xdp");
	int rc;

	pt->obj = bpf_object__open_mem(xdp_redirect_bpf, xdp_redirect_bpf_len, &oo);
	if (!pt->obj) {
		rc = -errno;
		pt->obj = NULL;
		return rc ? rc : -EINVAL;
	}
	if ((rc = bpf_object__load(pt->obj)) < 0)
		return rc;
	*xsks_fd = bpf_object__find_map_fd_by_name(pt->obj, "xsks");
	rc = bpf_object__find_map_fd_by_name(pt->obj, "local_addrs");
	if (*xsks_fd < 0 || rc < 0)
		return -ENOENT;
	return fill_local_addrs(rc);
}

/* Attach the port's program, native mode if the driver has it, else
 * generic. A bpf_link, not a netlink attachment: it goes away with the
 * last fd, so a crashed process leaves no program behind, and it refuses
 * (-EBUSY) to replace a program someone else attached. */
static int axp_port_attach(struct axp_port *pt, const char *ifname)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(pt->obj,
								    "loom_xdp_redirect");
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_DRV_MODE);
	int prog_fd = prog ? bpf_program__fd(prog) : -ENOENT;

	if (prog_fd < 0)
		return prog_fd;
	/* our own previous program may still be detaching (its link's last
	 * reference goes after a grace period): retry a while before calling
	 * the interface taken */
	for (int tries = 0;; tries++) {
		pt->link_fd = bpf_link_create(prog_fd, pt->ifindex, BPF_XDP, &lo);
		if (pt->link_fd != -EBUSY || tries == 100)
			break;
		axp_pause_ms(10);
	}
	if (pt->link_fd >= 0) {
		log_debug("pktio afxdp: %s: XDP program attached in native mode", ifname);
		return 0;
	}
	if (pt->link_fd == -EBUSY || pt->link_fd == -EEXIST)
		return pt->link_fd;
	lo.flags = XDP_FLAGS_SKB_MODE;
	pt->link_fd = bpf_link_create(prog_fd, pt->ifindex, BPF_XDP, &lo);
	if (pt->link_fd < 0)
		return pt->link_fd;
	log_debug("pktio afxdp: %s: XDP program attached in generic (SKB) mode", ifname);
	return 0;
}

static void axp_close(struct pktio *io)
{
	struct axp_be *be = io->priv;

	if (!be)
		return;
	/* Detach first, so no packet is redirected to a closing socket
	 * (the XSKMAP slot would fall back to XDP_PASS anyway). */
	for (unsigned p = 0; p < io->n_ports; p++)
		if (be->ports[p].link_fd >= 0)
			close(be->ports[p].link_fd);
	if (be->qs) {
		for (unsigned q = 0; q < io->n_queues; q++)
			for (unsigned p = 0; p < io->n_ports; p++)
				axp_sock_close(&be->qs[q].s[p]);
		free(be->qs);
	}
	for (unsigned p = 0; p < io->n_ports; p++)
		bpf_object__close(be->ports[p].obj);
	free(be);
	io->priv = NULL;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static uint32_t frames_cfg(unsigned v)
{
	uint32_t p = 64;

	if (!v)
		return AXP_DEF_FRAMES;
	if (v > AXP_MAX_FRAMES)
		return 0;
	while (p < v)
		p <<= 1;
	return p;
}

static int axp_open(struct pktio *io, const struct pktio_cfg *cfg)
{
	uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE);
	struct axp_be *be;
	int rc = 0;

	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	io->priv = be;
	for (unsigned p = 0; p < PKTIO_MAX_PORTS; p++)
		be->ports[p].link_fd = -1;
	be->frame_size = cfg->frame_size ? cfg->frame_size : AXP_FRAME;
	be->rx_frames = frames_cfg(cfg->rx_frames);
	be->tx_frames = frames_cfg(cfg->tx_frames);
	/* Aligned UMEM mode: chunks are powers of two up to a page. */
	if (!is_pow2(be->frame_size) || be->frame_size < 2048 || be->frame_size > page ||
	    !be->rx_frames || !be->tx_frames) {
		rc = -EINVAL;
		goto fail;
	}
	for (unsigned p = 0; p < cfg->n_ports; p++) {
		unsigned rxq = 0, txq = 0;

		if (!cfg->ports[p].ifname) {
			rc = -EINVAL;
			goto fail;
		}
		be->ports[p].ifindex = (int)if_nametoindex(cfg->ports[p].ifname);
		if (!be->ports[p].ifindex) {
			rc = -ENODEV;
			goto fail;
		}
		if ((rc = dev_queues(cfg->ports[p].ifname, &rxq, &txq)) < 0)
			goto fail;
		if (rxq != cfg->n_queues || txq < cfg->n_queues) {
			log_debug("pktio afxdp: %s has %u RX / %u TX queues, %u wanted",
				  cfg->ports[p].ifname, rxq, txq, cfg->n_queues);
			rc = -ECHRNG;
			goto fail;
		}
	}
	be->qs = aligned_alloc(LOOM_CACHELINE, sizeof(*be->qs) * cfg->n_queues);
	if (!be->qs) {
		rc = -ENOMEM;
		goto fail;
	}
	memset(be->qs, 0, sizeof(*be->qs) * cfg->n_queues);
	for (unsigned q = 0; q < cfg->n_queues; q++)
		for (unsigned p = 0; p < cfg->n_ports; p++)
			be->qs[q].s[p].fd = -1;

	libbpf_set_print(axp_libbpf_log);
	for (unsigned p = 0; p < cfg->n_ports; p++) {
		int xsks_fd = -1;

		if ((rc = axp_port_load(&be->ports[p], &xsks_fd)) < 0)
			goto fail;
		for (unsigned q = 0; q < cfg->n_queues; q++) {
			struct axp_sock *s = &be->qs[q].s[p];

			if ((rc = axp_sock_open(be, s, be->ports[p].ifindex, q, xsks_fd)) < 0)
				goto fail;
			be->qs[q].pfd[p] = (struct pollfd){ .fd = s->fd, .events = POLLIN };
		}
	}
	/* Sockets are in the maps: only now start redirecting. */
	for (unsigned p = 0; p < cfg->n_ports; p++)
		if ((rc = axp_port_attach(&be->ports[p], cfg->ports[p].ifname)) < 0)
			goto fail;
	return 0;
fail:
	axp_close(io);
	return rc;
}

/* --- data path -------------------------------------------------------------- */

static void axp_release_sock(struct axp_sock *s)
{
	/* The fill ring holds all RX frames, so there is always room. */
	for (uint32_t i = 0; i < s->n_held; i++)
		*ring_addr(&s->fill, s->fill.cached++) = s->held[i];
	/* Release: our use of the frames happens before the kernel's. */
	store_rel(s->fill.producer, s->fill.cached);
	s->n_held = 0;
}

static void axp_rx_release(struct pktio *io, unsigned q)
{
	struct axp_be *be = io->priv;

	for (unsigned p = 0; p < io->n_ports; p++)
		if (be->qs[q].s[p].n_held)
			axp_release_sock(&be->qs[q].s[p]);
}

static unsigned axp_rx_sock(struct pktio *io, unsigned q, struct axp_sock *s, uint16_t port,
			    uint32_t fs, uint64_t now, struct pktio_pkt *pkts, unsigned max)
{
	uint32_t avail = load_acq(s->rx.producer) - s->rx.cached;
	unsigned n = 0;
	uint64_t bytes = 0;

	if (avail > max)
		avail = max;
	if (avail > PKTIO_MAX_BURST - s->n_held)
		avail = PKTIO_MAX_BURST - s->n_held;
	for (uint32_t i = 0; i < avail; i++) {
		const struct xdp_desc *d = ring_desc(&s->rx, s->rx.cached++);
		uint64_t base = d->addr & ~(uint64_t)(fs - 1);
		uint64_t off = d->addr - base;

		/* The kernel's descriptors are trusted only as far as they
		 * point into our RX frames. */
		if (base >= s->rx_end) {
			pktio_stat_add(io, q, PKTIO_ST_RX_BAD_META, 1);
			continue;
		}
		s->held[s->n_held++] = base;
		if (off + d->len > fs) {
			pktio_stat_add(io, q, PKTIO_ST_RX_BAD_META, 1);
			continue;
		}
		pkts[n++] = (struct pktio_pkt){
			.data = s->umem + d->addr,
			.len = d->len,
			.port = port,
			.room = (uint32_t)(fs - off),
			.ts_ns = now,
		};
		bytes += d->len;
	}
	if (avail)
		store_rel(s->rx.consumer, s->rx.cached);
	else if (__atomic_load_n(s->fill.flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP)
		/* A zero-copy driver waits for us before it refills. */
		recvfrom(s->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	if (bytes)
		pktio_stat_add(io, q, PKTIO_ST_RX_BYTES, bytes);
	return n;
}

/* One stamp per burst: no per-packet time without XDP metadata. */
struct axp_rx_arg {
	struct axp_be *be;
	uint64_t now;
};

static unsigned axp_rx_port(struct pktio *io, unsigned q, unsigned port, void *arg,
			    struct pktio_pkt *pkts, unsigned max)
{
	struct axp_rx_arg *x = arg;

	return axp_rx_sock(io, q, &x->be->qs[q].s[port], (uint16_t)port, x->be->frame_size, x->now,
			   pkts, max);
}

static int axp_rx_burst(struct pktio *io, unsigned q, struct pktio_pkt *pkts, unsigned max)
{
	struct axp_rx_arg x = { .be = io->priv };
	struct timespec ts;

	axp_rx_release(io, q);
	clock_gettime(CLOCK_REALTIME, &ts);
	x.now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return pktio_rx_ports(io, q, &x.be->qs[q].first_port, axp_rx_port, &x, pkts, max);
}

static int axp_tx_burst(struct pktio *io, unsigned q, const struct pktio_pkt *pkts, unsigned n)
{
	struct axp_be *be = io->priv;
	struct axp_queue *aq = &be->qs[q];
	uint32_t kick = 0; /* bit per port */
	uint64_t bytes = 0;
	unsigned sent = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct pktio_pkt *p = &pkts[i];
		struct axp_sock *s;
		struct xdp_desc *d;
		uint64_t a;

		if (p->port >= io->n_ports || (p->flags & PKTIO_F_RAW_IP)) {
			pktio_stat_add(io, q, PKTIO_ST_TX_BAD_PORT, 1);
			continue;
		}
		/* No segmentation offload: a super-packet cannot leave. */
		if (p->len > be->frame_size ||
		    ((p->flags & PKTIO_F_GSO) && p->len - p->hdr_len > p->gso_size)) {
			pktio_stat_add(io, q, PKTIO_ST_TX_TOO_BIG, 1);
			continue;
		}
		s = &aq->s[p->port];
		if (!s->n_tx_free)
			axp_reclaim(s);
		if (!s->n_tx_free || s->tx.cached - load_acq(s->tx.consumer) > s->tx.mask) {
			pktio_stat_add(io, q, PKTIO_ST_TX_RING_FULL, 1);
			continue;
		}
		a = s->tx_free[s->n_tx_free - 1];
		memcpy(s->umem + a, p->data, p->len);
		/* No checksum offload either: finish it here. */
		if ((p->flags & PKTIO_F_CSUM_PARTIAL) &&
		    pkt_csum_complete(s->umem + a, p->len, p->csum_start, p->csum_offset,
				      NULL) < 0) {
			pktio_stat_add(io, q, PKTIO_ST_TX_ERRORS, 1);
			continue;
		}
		s->n_tx_free--;
		d = ring_desc(&s->tx, s->tx.cached++);
		*d = (struct xdp_desc){ .addr = a, .len = p->len };
		kick |= 1u << p->port;
		bytes += p->len;
		sent++;
	}
	for (unsigned p = 0; kick; p++, kick >>= 1) {
		if (!(kick & 1))
			continue;
		/* Release: descriptors and frame contents before the index. */
		store_rel(aq->s[p].tx.producer, aq->s[p].tx.cached);
		axp_kick_tx(io, q, &aq->s[p]);
	}
	pktio_stat_add(io, q, PKTIO_ST_TX_PKTS, sent);
	pktio_stat_add(io, q, PKTIO_ST_TX_BYTES, bytes);
	return (int)sent;
}

static int axp_wait(struct pktio *io, unsigned q, int timeout_ms)
{
	struct axp_be *be = io->priv;
	struct axp_queue *aq = &be->qs[q];
	unsigned n = io->n_ports;
	int rc;

	for (unsigned p = 0; p < io->n_ports; p++) {
		struct axp_sock *s = &aq->s[p];

		/* Descriptors a bounded kick loop left behind go out now. */
		if (tx_pending(s))
			axp_kick_tx(io, q, s);
		/* Packets already in the ring: no sleep. */
		if (load_acq(s->rx.producer) != s->rx.cached)
			return 1;
	}
	rc = pktio_poll(io, q, aq->pfd, n, timeout_ms);
	return rc;
}

static void axp_stats_sync(struct pktio *io, unsigned q)
{
	struct axp_be *be = io->priv;

	for (unsigned p = 0; p < io->n_ports; p++) {
		struct axp_sock *s = &be->qs[q].s[p];
		struct xdp_statistics st;
		socklen_t len = sizeof(st);
		uint64_t cur, old;

		/* Cumulative counters: fold in what is new since last time
		 * (readers on several threads each take a distinct part). */
		if (getsockopt(s->fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0)
			continue;
		cur = st.rx_dropped + st.rx_ring_full;
		old = __atomic_exchange_n(&s->drops_seen, cur, __ATOMIC_RELAXED);
		if (cur > old)
			__atomic_fetch_add(&io->qs[q].v[PKTIO_ST_RX_KERNEL_DROPS], cur - old,
					   __ATOMIC_RELAXED);
	}
}

const struct pktio_ops pktio_afxdp_ops = {
	.name = "afxdp",
	.open = axp_open,
	.close = axp_close,
	.rx_burst = axp_rx_burst,
	.rx_release = axp_rx_release,
	.tx_burst = axp_tx_burst,
	.wait = axp_wait,
	.stats_sync = axp_stats_sync,
};
