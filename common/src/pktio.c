// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pktio: argument checks, dispatch to the back end's ops table, counters and
 * the offload-metadata helpers shared by the back ends.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <endian.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>

#include "common/pkt.h"
#include "pktio-internal.h"

static const struct pktio_ops *const pktio_backends[] = {
	&pktio_afpacket_ops,
	&pktio_pcap_ops,
	&pktio_afxdp_ops,
};

static const char *const pktio_stat_names[] = { PKTIO_STAT_LIST(LOOM_XSTR) };

const char *pktio_stat_name(enum pktio_stat s)
{
	return (unsigned)s < PKTIO__ST_MAX ? pktio_stat_names[s] : "unknown";
}

void pktio_cfg_init(struct pktio_cfg *cfg, const char *backend)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = backend;
	cfg->n_queues = 1;
	cfg->vnet_hdr = true;
	cfg->fanout_id = 0x4c4d; /* "LM" */
}

int pktio_open(const struct pktio_cfg *cfg, struct pktio **out)
{
	const struct pktio_ops *ops = NULL;
	struct pktio *io;
	int rc;

	*out = NULL;
	if (!cfg->backend)
		return -EINVAL;
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(pktio_backends); i++)
		if (!strcmp(cfg->backend, pktio_backends[i]->name))
			ops = pktio_backends[i];
	if (!ops)
		return -EPROTONOSUPPORT;
	if (cfg->n_queues < 1 || cfg->n_queues > PKTIO_MAX_QUEUES ||
	    cfg->n_ports < 1 || cfg->n_ports > PKTIO_MAX_PORTS)
		return -EINVAL;

	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->ops = ops;
	io->n_queues = cfg->n_queues;
	for (unsigned q = 0; q < PKTIO_MAX_QUEUES; q++)
		io->wake_fd[q] = -1;
	io->n_ports = cfg->n_ports;
	io->qs = aligned_alloc(LOOM_CACHELINE, sizeof(*io->qs) * cfg->n_queues);
	if (!io->qs) {
		free(io);
		return -ENOMEM;
	}
	memset(io->qs, 0, sizeof(*io->qs) * cfg->n_queues);
	rc = ops->open(io, cfg);
	if (rc < 0) {
		free(io->qs);
		free(io);
		return rc;
	}
	*out = io;
	return 0;
}

void pktio_close(struct pktio *io)
{
	if (!io)
		return;
	io->ops->close(io);
	free(io->qs);
	free(io);
}

unsigned pktio_n_queues(const struct pktio *io)
{
	return io->n_queues;
}

unsigned pktio_n_ports(const struct pktio *io)
{
	return io->n_ports;
}

const char *pktio_backend(const struct pktio *io)
{
	return io->ops->name;
}

int pktio_rx_burst(struct pktio *io, unsigned q, struct pktio_pkt *pkts, unsigned max)
{
	if (loom_unlikely(q >= io->n_queues))
		return -EINVAL;
	if (max > PKTIO_MAX_BURST)
		max = PKTIO_MAX_BURST;
	return io->ops->rx_burst(io, q, pkts, max);
}

void pktio_rx_release(struct pktio *io, unsigned q)
{
	if (loom_likely(q < io->n_queues))
		io->ops->rx_release(io, q);
}

int pktio_tx_burst(struct pktio *io, unsigned q, const struct pktio_pkt *pkts, unsigned n)
{
	if (loom_unlikely(q >= io->n_queues))
		return -EINVAL;
	return io->ops->tx_burst(io, q, pkts, n);
}

int pktio_set_wake_fd(struct pktio *io, unsigned q, int fd)
{
	if (q >= io->n_queues)
		return -EINVAL;
	io->wake_fd[q] = fd;
	return 0;
}

int pktio_poll(struct pktio *io, unsigned q, struct pollfd *pfd, unsigned n, int timeout_ms)
{
	unsigned all = n;
	int rc;

	if (io->wake_fd[q] >= 0)
		pfd[all++] = (struct pollfd){ .fd = io->wake_fd[q], .events = POLLIN };
	rc = poll(pfd, all, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	bool readable = false;
	for (unsigned i = 0; i < all && rc > 0; i++) {
		if (pfd[i].revents & POLLIN)
			readable = true;
		if (i < n && (pfd[i].revents & (POLLERR | POLLHUP))) {
			int err = 0;
			socklen_t len = sizeof(err);
			getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
			pktio_stat_add(io, q, PKTIO_ST_SOCK_ERRORS, 1);
		}
	}
	return readable;
}

int pktio_sleep_or_wake(struct pktio *io, unsigned q, uint64_t ns)
{
	struct pollfd pfd = { .fd = io->wake_fd[q], .events = POLLIN };
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	if (pfd.fd < 0) {
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return 0;
	}
	int rc = ppoll(&pfd, 1, &ts, NULL);
	return rc > 0 ? 1 : 0;
}

int pktio_wait(struct pktio *io, unsigned q, int timeout_ms)
{
	if (q >= io->n_queues)
		return -EINVAL;
	return io->ops->wait(io, q, timeout_ms);
}

bool pktio_eof(const struct pktio *io)
{
	return io->ops->eof ? io->ops->eof(io) : false;
}

void pktio_stats(struct pktio *io, unsigned q, struct pktio_stats *out)
{
	unsigned first = q, last = q;

	memset(out, 0, sizeof(*out));
	if (q == -1u) {
		first = 0;
		last = io->n_queues - 1;
	} else if (q >= io->n_queues) {
		return;
	}
	for (unsigned i = first; i <= last; i++) {
		if (io->ops->stats_sync)
			io->ops->stats_sync(io, i);
		for (unsigned s = 0; s < PKTIO__ST_MAX; s++)
			out->v[s] += __atomic_load_n(&io->qs[i].v[s], __ATOMIC_RELAXED);
	}
}

int pktio_meta_from_vnet(struct pktio_pkt *p, const struct virtio_net_hdr *vh)
{
	uint16_t start = le16toh(vh->csum_start), off = le16toh(vh->csum_offset);
	uint8_t gso = vh->gso_type;

	p->flags &= (uint16_t)~(PKTIO_F_CSUM_PARTIAL | PKTIO_F_CSUM_VALID | PKTIO_F_GSO);
	p->csum_start = p->csum_offset = p->gso_size = p->hdr_len = 0;
	p->gso_type = PKTIO_GSO_NONE;

	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		/* The 2-byte field must lie inside the packet. */
		if ((uint32_t)start + off + 2 > p->len)
			return -EINVAL;
		p->flags |= PKTIO_F_CSUM_PARTIAL;
		p->csum_start = start;
		p->csum_offset = off;
	} else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		p->flags |= PKTIO_F_CSUM_VALID;
	}
	switch (gso & ~PKTIO_GSO_ECN) {
	case PKTIO_GSO_NONE:
		return 0;
	case PKTIO_GSO_TCPV4:
	case PKTIO_GSO_TCPV6:
	case PKTIO_GSO_UDP:
	case PKTIO_GSO_UDP_L4:
		break;
	default:
		return -EINVAL;
	}
	if (le16toh(vh->gso_size) == 0)
		return -EINVAL;
	p->flags |= PKTIO_F_GSO;
	p->gso_type = gso;
	p->gso_size = le16toh(vh->gso_size);
	p->hdr_len = le16toh(vh->hdr_len);
	if (p->hdr_len > p->len)
		p->hdr_len = (uint16_t)(p->len > UINT16_MAX ? UINT16_MAX : p->len);
	return 0;
}

void pktio_meta_to_vnet(const struct pktio_pkt *p, struct virtio_net_hdr *vh)
{
	memset(vh, 0, sizeof(*vh));
	if (p->flags & PKTIO_F_CSUM_PARTIAL) {
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = htole16(p->csum_start);
		vh->csum_offset = htole16(p->csum_offset);
	}
	/* PKTIO_F_CSUM_VALID is not passed on: after a rewrite it may be a
	 * lie, and a packet without it is simply verified by the receiver. */
	if (p->flags & PKTIO_F_GSO) {
		vh->gso_type = p->gso_type;
		vh->gso_size = htole16(p->gso_size);
		vh->hdr_len = htole16(p->hdr_len);
	}
}

int pktio_pkt_parse(const struct pktio_pkt *p, struct pkt_view *v)
{
	int rc;

	if (p->flags & PKTIO_F_RAW_IP)
		rc = pkt_parse_l3(p->data, p->len, v);
	else
		rc = pkt_parse(p->data, p->len, v);
	if (rc < 0 || !(p->flags & PKTIO_F_CSUM_PARTIAL))
		return rc;
	return pkt_view_set_csum_partial(v, p->csum_start, p->csum_offset);
}
