// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pktio "afpacket" back end: AF_PACKET with TPACKET_V2 RX and TX rings.
 *
 * One socket per (port, queue), each with its own RX and TX ring in one
 * mapping (RX first). Queue q's worker owns socket (p, q) of every port p,
 * so nothing is shared between workers. The sockets of port p form fanout
 * group fanout_id + p with PACKET_FANOUT_HASH: the kernel picks member
 * reciprocal_scale(__skb_get_hash_symmetric(skb), n_members), a flow hash
 * with addresses and ports sorted, so both directions of a flow reach the
 * same member index. Queue q joins every port's group q-th, so a flow and
 * its reply, arriving on two ports, reach the same worker.
 *
 * Why TPACKET_V2: V3 hands blocks over when full or when the block timer
 * fires, which adds about 1 ms per hop at low rates (LAB-FACTS 3); V2 hands
 * over each frame.
 *
 * Frame layout with PACKET_VNET_HDR (the kernel's tpacket_rcv/tpacket_snd):
 *   RX: struct tpacket2_hdr | sockaddr_ll | ... | virtio_net_hdr | packet
 *       the packet starts at tp_mac, the 10-byte virtio_net_hdr ends there.
 *   TX: struct tpacket2_hdr (32 bytes, TPACKET_ALIGNed) | virtio_net_hdr |
 *       packet, and tp_len counts the virtio_net_hdr too.
 * A GSO super-packet is up to 64 KB, so frames are 64 KB + headers; a frame
 * that is too small gets a truncated copy (tp_snaplen < tp_len), which we
 * count and drop (LAB-FACTS 2).
 *
 * The kernel strips a VLAN tag into the ring header (TP_STATUS_VLAN_VALID);
 * we put it back in front of the packet so the pipeline sees the frame as
 * it was on the wire (there is room: the sockaddr_ll and alignment gap lie
 * before tp_mac).
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "pktio-internal.h"

#define AFP_DEF_FRAMES      256u
#define AFP_FRAME_VNET      69632u /* 64 KiB packet + tpacket/vnet headers, 16-aligned */
#define AFP_FRAME_PLAIN     2048u
#define AFP_TX_DATA_OFF     TPACKET_ALIGN(sizeof(struct tpacket2_hdr))
#define AFP_VNET_LEN        sizeof(struct virtio_net_hdr)
/* Packets longer than this (GSO super-packets) are sent with sendmsg()
 * straight from where they were received: through the TX ring they were
 * copied twice more, into the frame here and, since ring pages belong to
 * user space, out of it again when veth hands the packet to another
 * namespace (skb_copy_ubufs); sendmsg copies once. Smaller packets stay on
 * the ring, where a burst costs one system call. */
#define AFP_DIRECT_MIN      4096u

struct afp_ring {
	uint8_t *base;
	uint32_t block_size;
	uint32_t frame_size;
	uint32_t fpb;       /* frames per block */
	uint32_t n_frames;
};

struct afp_sock {
	int fd;
	uint8_t *map;
	size_t map_len;
	struct afp_ring rx;
	struct afp_ring tx;
	uint32_t rx_head;       /* next RX frame to look at */
	uint32_t rx_held_first; /* frames of the last burst, from here */
	uint32_t rx_held_n;
	uint32_t tx_head;       /* next TX frame to fill */
	int dfd;                /* ring-less socket for big packets; -1: none */
};

struct afp_queue {
	struct afp_sock s[PKTIO_MAX_PORTS];
	struct pollfd pfd[PKTIO_MAX_PORTS + 1]; /* + the wake descriptor */
	unsigned first_port;    /* rotates, so one busy port cannot starve the others */
} LOOM_ALIGNED_CL;

struct afp_be {
	bool vnet;
	struct afp_queue *qs;
};

static inline uint8_t *afp_frame(const struct afp_ring *r, uint32_t i)
{
	return r->base + (size_t)(i / r->fpb) * r->block_size +
	       (size_t)(i % r->fpb) * r->frame_size;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/*
 * Blocks are physically contiguous allocations of 2^order pages, and a frame
 * never spans two blocks: take blocks of about 8 frames, a power of two, so
 * a 68 KiB frame wastes 4 KiB per 1 MiB block instead of half a block.
 */
static void afp_ring_req(uint32_t frame_size, uint32_t frames, struct tpacket_req *req,
			 struct afp_ring *r)
{
	uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE);
	uint32_t block = pow2_at_least(frame_size * 8);

	if (block < page)
		block = page;
	r->frame_size = frame_size;
	r->block_size = block;
	r->fpb = block / frame_size;
	req->tp_block_size = block;
	req->tp_frame_size = frame_size;
	req->tp_block_nr = (frames + r->fpb - 1) / r->fpb;
	req->tp_frame_nr = req->tp_block_nr * r->fpb;
	r->n_frames = req->tp_frame_nr;
}

static int setopt_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v)) < 0 ? -errno : 0;
}

static void afp_sock_close(struct afp_sock *s)
{
	if (s->map)
		munmap(s->map, s->map_len);
	if (s->fd >= 0)
		close(s->fd);
	if (s->dfd >= 0)
		close(s->dfd);
	s->map = NULL;
	s->fd = -1;
	s->dfd = -1;
}

/* The ring-less sending socket (AFP_DIRECT_MIN): protocol 0 and bound with
 * protocol 0, it never receives; it takes the vnet header like the ring. */
static int afp_direct_open(struct afp_sock *s, int ifindex)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	int fd, rc;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	s->dfd = fd;
	if ((rc = setopt_int(fd, SOL_PACKET, PACKET_VNET_HDR, 1)) < 0 ||
	    (rc = setopt_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1)) < 0)
		return rc;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}

static int afp_sock_open(struct afp_sock *s, const struct pktio_cfg *cfg, int ifindex,
			 uint32_t frame_size)
{
	/* Drop everything until the socket is in its fanout group: a bound
	 * socket outside the group would get a copy of every packet. */
	struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &drop_all };
	struct tpacket_req rxq, txq;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = ifindex,
	};
	int fd, rc;

	/* Protocol 0: nothing is received before bind(). */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	s->fd = fd;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return -errno;
	/* Order matters: version and vnet header before the rings exist. */
	if ((rc = setopt_int(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2)) < 0 ||
	    (cfg->vnet_hdr && (rc = setopt_int(fd, SOL_PACKET, PACKET_VNET_HDR, 1)) < 0) ||
	    /* A bad TX frame is skipped, not left to block the ring. */
	    (rc = setopt_int(fd, SOL_PACKET, PACKET_LOSS, 1)) < 0 ||
	    (rc = setopt_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1)) < 0 ||
	    (rc = setopt_int(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)) < 0)
		return rc;

	afp_ring_req(frame_size, cfg->rx_frames ? cfg->rx_frames : AFP_DEF_FRAMES, &rxq, &s->rx);
	afp_ring_req(frame_size, cfg->tx_frames ? cfg->tx_frames : AFP_DEF_FRAMES, &txq, &s->tx);
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &rxq, sizeof(rxq)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &txq, sizeof(txq)) < 0)
		return -errno;
	s->map_len = (size_t)rxq.tp_block_size * rxq.tp_block_nr +
		     (size_t)txq.tp_block_size * txq.tp_block_nr;
	s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		return -errno;
	}
	s->rx.base = s->map;
	s->tx.base = s->map + (size_t)rxq.tp_block_size * rxq.tp_block_nr;
	if (cfg->vnet_hdr && (rc = afp_direct_open(s, ifindex)) < 0)
		return rc;

	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}

/*
 * Join the fanout group: from here on the kernel hands this socket its
 * share of the packets. Done for every socket only once all of them exist,
 * since a ring that is in the group must be served at once: a process
 * joining a running group (an upgrade restart) would otherwise leave the
 * first socket's share waiting while it populates the other rings.
 */
static int afp_sock_join(struct afp_sock *s, const struct pktio_cfg *cfg, unsigned port)
{
	unsigned fanout_flags = PACKET_FANOUT_HASH |
				(cfg->fanout_defrag ? PACKET_FANOUT_FLAG_DEFRAG : 0);
	int rc;

	/* The kernel joins an existing group (same id in this netns) only if
	 * type, flags, protocol and device match; else EINVAL. The device
	 * must be up (the socket must be "running"). */
	if ((rc = setopt_int(s->fd, SOL_PACKET, PACKET_FANOUT,
			     (int)((cfg->fanout_id + port) | (fanout_flags << 16)))) < 0)
		return rc;
	/* The kernel wants an int-sized value here even though it is unused. */
	return setopt_int(s->fd, SOL_SOCKET, SO_DETACH_FILTER, 0);
}

static void *afp_sock_close_thread(void *arg)
{
	afp_sock_close(arg);
	return NULL;
}

/*
 * A socket leaves its fanout group when it is released, and each release
 * then waits for an RCU grace period (synchronize_net()). Closed one after
 * the other, the sockets not yet closed would go on receiving, for tens of
 * milliseconds, packets nobody reads any more, while a successor in the
 * group (an upgrade restart) could have had them: so close them all at
 * once, one thread each (inline when no thread can be had).
 */
static void afp_close(struct pktio *io)
{
	struct afp_be *be = io->priv;

	if (!be)
		return;
	if (be->qs) {
		unsigned n = io->n_queues * io->n_ports, i = 0;
		pthread_t *th = calloc(n, sizeof(*th));
		bool *started = calloc(n, sizeof(*started));

		for (unsigned q = 0; q < io->n_queues; q++)
			for (unsigned p = 0; p < io->n_ports; p++, i++)
				if (!th || !started ||
				    pthread_create(&th[i], NULL, afp_sock_close_thread,
						   &be->qs[q].s[p]) != 0)
					afp_sock_close(&be->qs[q].s[p]);
				else
					started[i] = true;
		for (i = 0; th && started && i < n; i++)
			if (started[i])
				pthread_join(th[i], NULL);
		free(th);
		free(started);
		free(be->qs);
	}
	free(be);
	io->priv = NULL;
}

static int afp_open(struct pktio *io, const struct pktio_cfg *cfg)
{
	uint32_t frame_size = cfg->frame_size ? cfg->frame_size :
				cfg->vnet_hdr ? AFP_FRAME_VNET : AFP_FRAME_PLAIN;
	int ifindex[PKTIO_MAX_PORTS];
	struct afp_be *be;
	int rc = 0;

	if (frame_size < 256 || frame_size % TPACKET_ALIGNMENT ||
	    (unsigned)cfg->fanout_id + cfg->n_ports > 0x10000)
		return -EINVAL;
	for (unsigned p = 0; p < cfg->n_ports; p++) {
		if (!cfg->ports[p].ifname)
			return -EINVAL;
		ifindex[p] = (int)if_nametoindex(cfg->ports[p].ifname);
		if (!ifindex[p])
			return -ENODEV;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	io->priv = be;
	be->vnet = cfg->vnet_hdr;
	be->qs = aligned_alloc(LOOM_CACHELINE, sizeof(*be->qs) * cfg->n_queues);
	if (!be->qs) {
		afp_close(io);
		return -ENOMEM;
	}
	memset(be->qs, 0, sizeof(*be->qs) * cfg->n_queues);
	for (unsigned q = 0; q < cfg->n_queues; q++)
		for (unsigned p = 0; p < cfg->n_ports; p++)
			be->qs[q].s[p].fd = be->qs[q].s[p].dfd = -1;
	/* Queue order inside each group must be the same for every port:
	 * join queue by queue. */
	for (unsigned q = 0; q < cfg->n_queues && rc == 0; q++) {
		for (unsigned p = 0; p < cfg->n_ports && rc == 0; p++) {
			rc = afp_sock_open(&be->qs[q].s[p], cfg, ifindex[p], frame_size);
			be->qs[q].pfd[p] = (struct pollfd){ .fd = be->qs[q].s[p].fd,
							    .events = POLLIN };
		}
	}
	for (unsigned q = 0; q < cfg->n_queues && rc == 0; q++)
		for (unsigned p = 0; p < cfg->n_ports && rc == 0; p++)
			rc = afp_sock_join(&be->qs[q].s[p], cfg, p);
	if (rc < 0) {
		afp_close(io);
		return rc;
	}
	return 0;
}

static void afp_release_sock(struct afp_sock *s)
{
	for (uint32_t i = 0, f = s->rx_held_first; i < s->rx_held_n; i++) {
		struct tpacket2_hdr *h = (struct tpacket2_hdr *)afp_frame(&s->rx, f);

		/* Release: our reads and writes of the frame happen before
		 * the kernel may reuse it. */
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		if (++f == s->rx.n_frames)
			f = 0;
	}
	s->rx_held_n = 0;
}

static void afp_rx_release(struct pktio *io, unsigned q)
{
	struct afp_be *be = io->priv;

	for (unsigned p = 0; p < io->n_ports; p++)
		if (be->qs[q].s[p].rx_held_n)
			afp_release_sock(&be->qs[q].s[p]);
}

/* Put a tag the kernel moved into the ring header back into the frame. */
static void afp_vlan_insert(struct pktio_pkt *p, const struct tpacket2_hdr *h, uint32_t st)
{
	uint16_t tpid = (st & TP_STATUS_VLAN_TPID_VALID) ? h->tp_vlan_tpid : ETH_P_8021Q;
	uint8_t *d = p->data - 4;

	memmove(d, p->data, 12);
	d[12] = (uint8_t)(tpid >> 8);
	d[13] = (uint8_t)tpid;
	d[14] = (uint8_t)(h->tp_vlan_tci >> 8);
	d[15] = (uint8_t)h->tp_vlan_tci;
	p->data = d;
	p->len += 4;
	p->room += 4;
	if (p->flags & PKTIO_F_CSUM_PARTIAL)
		p->csum_start += 4;
	if (p->flags & PKTIO_F_GSO)
		p->hdr_len += 4;
}

/* Read ready frames of one socket into pkts; returns how many were filled. */
static unsigned afp_rx_sock(struct pktio *io, unsigned q, struct afp_sock *s, uint16_t port,
			    bool vnet, struct pktio_pkt *pkts, unsigned max)
{
	/* Lowest tp_mac that leaves room for the vnet header and a VLAN tag
	 * behind the tpacket2_hdr. */
	const uint32_t min_mac = (uint32_t)AFP_TX_DATA_OFF + 4 + (vnet ? AFP_VNET_LEN : 0);
	unsigned n = 0;

	if (!s->rx_held_n)
		s->rx_held_first = s->rx_head;
	while (n < max && s->rx_held_n < s->rx.n_frames) {
		uint8_t *f = afp_frame(&s->rx, s->rx_head);
		struct tpacket2_hdr *h = (struct tpacket2_hdr *)f;
		uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
		struct pktio_pkt *p = &pkts[n];

		if (!(st & TP_STATUS_USER))
			break;
		if (++s->rx_head == s->rx.n_frames)
			s->rx_head = 0;
		s->rx_held_n++;
		if ((st & TP_STATUS_COPY) || h->tp_snaplen < h->tp_len) {
			pktio_stat_add(io, q, PKTIO_ST_RX_TRUNC, 1);
			continue;
		}
		if (h->tp_mac < min_mac || (uint64_t)h->tp_mac + h->tp_snaplen > s->rx.frame_size) {
			pktio_stat_add(io, q, PKTIO_ST_RX_BAD_META, 1);
			continue;
		}
		*p = (struct pktio_pkt){
			.data = f + h->tp_mac,
			.len = h->tp_snaplen,
			.port = port,
			.room = s->rx.frame_size - h->tp_mac,
			.ts_ns = (uint64_t)h->tp_sec * 1000000000u + h->tp_nsec,
		};
		if (vnet && pktio_meta_from_vnet(p, (const struct virtio_net_hdr *)
						 (f + h->tp_mac - AFP_VNET_LEN)) < 0) {
			pktio_stat_add(io, q, PKTIO_ST_RX_BAD_META, 1);
			continue;
		}
		if (st & TP_STATUS_VLAN_VALID)
			afp_vlan_insert(p, h, st);
		if (p->flags & PKTIO_F_GSO)
			pktio_stat_add(io, q, PKTIO_ST_RX_GSO, 1);
		if (p->flags & PKTIO_F_CSUM_PARTIAL)
			pktio_stat_add(io, q, PKTIO_ST_RX_CSUM_PARTIAL, 1);
		pktio_stat_add(io, q, PKTIO_ST_RX_BYTES, p->len);
		n++;
	}
	return n;
}

static unsigned afp_rx_port(struct pktio *io, unsigned q, unsigned port, void *arg,
			    struct pktio_pkt *pkts, unsigned max)
{
	struct afp_be *be = arg;

	return afp_rx_sock(io, q, &be->qs[q].s[port], (uint16_t)port, be->vnet, pkts, max);
}

static int afp_rx_burst(struct pktio *io, unsigned q, struct pktio_pkt *pkts, unsigned max)
{
	struct afp_be *be = io->priv;

	afp_rx_release(io, q);
	return pktio_rx_ports(io, q, &be->qs[q].first_port, afp_rx_port, be, pkts, max);
}

/* Send what the TX ring holds. */
static void afp_kick(struct pktio *io, unsigned q, struct afp_sock *s)
{
	/* MSG_DONTWAIT: send what is queued, do not wait for completion. */
	if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
	    errno != ENOBUFS)
		pktio_stat_add(io, q, PKTIO_ST_TX_ERRORS, 1);
}

/* One packet through the ring-less socket (AFP_DIRECT_MIN); 0 if sent. */
static int afp_send_direct(struct pktio *io, unsigned q, struct afp_sock *s,
			   const struct pktio_pkt *p)
{
	struct virtio_net_hdr vh;
	struct iovec iov[2] = {
		{ .iov_base = &vh, .iov_len = sizeof(vh) },
		{ .iov_base = p->data, .iov_len = p->len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	pktio_meta_to_vnet(p, &vh);
	if (sendmsg(s->dfd, &mh, MSG_DONTWAIT) >= 0)
		return 0;
	/* a full device queue is what a full ring is to the ring path */
	pktio_stat_add(io, q, errno == EAGAIN || errno == ENOBUFS ? PKTIO_ST_TX_RING_FULL
								   : PKTIO_ST_TX_ERRORS, 1);
	return -1;
}

static int afp_tx_burst(struct pktio *io, unsigned q, const struct pktio_pkt *pkts, unsigned n)
{
	struct afp_be *be = io->priv;
	struct afp_queue *aq = &be->qs[q];
	const uint32_t vlen = be->vnet ? AFP_VNET_LEN : 0;
	uint32_t kick = 0; /* bit per port */
	uint64_t bytes = 0;
	unsigned sent = 0, direct = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct pktio_pkt *p = &pkts[i];
		struct afp_sock *s;
		struct tpacket2_hdr *h;
		uint8_t *f, *d;
		uint32_t st;

		if (p->port >= io->n_ports) {
			pktio_stat_add(io, q, PKTIO_ST_TX_BAD_PORT, 1);
			continue;
		}
		s = &aq->s[p->port];
		if (p->len > AFP_DIRECT_MIN && s->dfd >= 0) {
			/* after what the ring holds for this port, not before */
			if (kick & (1u << p->port)) {
				afp_kick(io, q, s);
				kick &= ~(1u << p->port);
			}
			if (afp_send_direct(io, q, s, p) == 0) {
				bytes += p->len;
				sent++;
				direct++;
			}
			continue;
		}
		if ((uint64_t)p->len + vlen > s->tx.frame_size - AFP_TX_DATA_OFF) {
			pktio_stat_add(io, q, PKTIO_ST_TX_TOO_BIG, 1);
			continue;
		}
		f = afp_frame(&s->tx, s->tx_head);
		h = (struct tpacket2_hdr *)f;
		st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
		if (st == TP_STATUS_WRONG_FORMAT) {
			/* The kernel refused this frame earlier; reuse it. */
			pktio_stat_add(io, q, PKTIO_ST_TX_ERRORS, 1);
		} else if (st != TP_STATUS_AVAILABLE) {
			pktio_stat_add(io, q, PKTIO_ST_TX_RING_FULL, 1);
			continue;
		}
		d = f + AFP_TX_DATA_OFF;
		if (vlen)
			pktio_meta_to_vnet(p, (struct virtio_net_hdr *)d);
		memcpy(d + vlen, p->data, p->len);
		h->tp_len = p->len + vlen;
		h->tp_snaplen = h->tp_len;
		/* Release: the frame's contents are visible before its status. */
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		if (++s->tx_head == s->tx.n_frames)
			s->tx_head = 0;
		kick |= 1u << p->port;
		bytes += p->len;
		sent++;
	}
	for (unsigned p = 0; kick; p++, kick >>= 1) {
		if (!(kick & 1))
			continue;
		afp_kick(io, q, &aq->s[p]);
	}
	pktio_stat_add(io, q, PKTIO_ST_TX_PKTS, sent);
	pktio_stat_add(io, q, PKTIO_ST_TX_BYTES, bytes);
	pktio_stat_add(io, q, PKTIO_ST_TX_DIRECT, direct);
	return (int)sent;
}

static int afp_wait(struct pktio *io, unsigned q, int timeout_ms)
{
	struct afp_be *be = io->priv;
	struct afp_queue *aq = &be->qs[q];
	int rc;

	/* Frames already in the ring: no system call. */
	for (unsigned p = 0; p < io->n_ports; p++) {
		struct afp_sock *s = &aq->s[p];
		const struct tpacket2_hdr *h = (const struct tpacket2_hdr *)afp_frame(&s->rx,
										 s->rx_head);

		if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)
			return 1;
	}
	rc = pktio_poll(io, q, aq->pfd, io->n_ports, timeout_ms);
	return rc;
}

static void afp_stats_sync(struct pktio *io, unsigned q)
{
	struct afp_be *be = io->priv;

	for (unsigned p = 0; p < io->n_ports; p++) {
		struct tpacket_stats st;
		socklen_t len = sizeof(st);

		/* Reading resets the kernel's counters: add, never store. */
		if (getsockopt(be->qs[q].s[p].fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
			__atomic_fetch_add(&io->qs[q].v[PKTIO_ST_RX_KERNEL_DROPS], st.tp_drops,
					   __ATOMIC_RELAXED);
	}
}

const struct pktio_ops pktio_afpacket_ops = {
	.name = "afpacket",
	.open = afp_open,
	.close = afp_close,
	.rx_burst = afp_rx_burst,
	.rx_release = afp_rx_release,
	.tx_burst = afp_tx_burst,
	.wait = afp_wait,
	.stats_sync = afp_stats_sync,
};
