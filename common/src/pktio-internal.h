/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a pktio back end implements. pktio.c checks arguments once and
 * dispatches through the ops table; a back end never sees a queue index or
 * burst size out of range.
 */
#ifndef LOOM_COMMON_PKTIO_INTERNAL_H
#define LOOM_COMMON_PKTIO_INTERNAL_H

#include <poll.h>

#include "common/pktio.h"

struct pktio_ops {
	const char *name;
	/* io->n_queues/n_ports/qs are set; the back end stores its state in io->priv. */
	int (*open)(struct pktio *io, const struct pktio_cfg *cfg);
	void (*close)(struct pktio *io);
	int (*rx_burst)(struct pktio *io, unsigned q, struct pktio_pkt *pkts, unsigned max);
	void (*rx_release)(struct pktio *io, unsigned q);
	int (*tx_burst)(struct pktio *io, unsigned q, const struct pktio_pkt *pkts, unsigned n);
	int (*wait)(struct pktio *io, unsigned q, int timeout_ms);
	bool (*eof)(const struct pktio *io);
	/* Optional: fold counters only the back end can read (kernel drops). */
	void (*stats_sync)(struct pktio *io, unsigned q);
};

/* One queue's counters, on its own cache line: written by its worker only
 * (relaxed atomic stores, so a reader on another thread sees whole values). */
struct pktio_qstats {
	uint64_t v[PKTIO__ST_MAX];
} LOOM_ALIGNED_CL;

struct pktio {
	const struct pktio_ops *ops;
	unsigned n_queues;
	unsigned n_ports;
	struct pktio_qstats *qs; /* n_queues */
	int wake_fd[PKTIO_MAX_QUEUES]; /* -1, or an fd whose readability ends a wait */
	void *priv;
};

/*
 * poll() the queue's n socket descriptors in pfd (room for one more: q's
 * wake descriptor is added) for up to timeout_ms. Returns 1 if something is
 * readable, 0 on timeout or when sockets only reported errors (those are
 * read with SO_ERROR, which clears them, and counted: a device that went
 * away must not turn every wait into a busy loop), or -errno.
 */
int pktio_poll(struct pktio *io, unsigned q, struct pollfd *pfd, unsigned n, int timeout_ms);

/* Sleep up to ns, or until q's wake descriptor becomes readable (1), for
 * back ends with nothing else to poll. */
int pktio_sleep_or_wake(struct pktio *io, unsigned q, uint64_t ns);

static inline void pktio_stat_add(struct pktio *io, unsigned q, enum pktio_stat s, uint64_t n)
{
	uint64_t *c = &io->qs[q].v[s];

	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Take up to max packets from port's socket of queue q (a back end's own). */
typedef unsigned pktio_rx_port_fn(struct pktio *io, unsigned q, unsigned port, void *arg,
				  struct pktio_pkt *pkts, unsigned max);

/*
 * A burst from a queue's sockets, one per port, round robin from *first,
 * which moves on by one each burst so a busy port cannot starve the
 * others. Counts what it received. For the back ends with a socket per
 * port and queue (AF_PACKET, AF_XDP).
 */
static inline int pktio_rx_ports(struct pktio *io, unsigned q, unsigned *first,
				 pktio_rx_port_fn *rx, void *arg, struct pktio_pkt *pkts,
				 unsigned max)
{
	unsigned n = 0, p = *first;

	for (unsigned i = 0; i < io->n_ports && n < max; i++) {
		n += rx(io, q, p, arg, pkts + n, max - n);
		if (++p == io->n_ports)
			p = 0;
	}
	if (++*first >= io->n_ports)
		*first = 0;
	if (n)
		pktio_stat_add(io, q, PKTIO_ST_RX_PKTS, n);
	return (int)n;
}

extern const struct pktio_ops pktio_afpacket_ops;
extern const struct pktio_ops pktio_pcap_ops;
extern const struct pktio_ops pktio_afxdp_ops;

#endif
