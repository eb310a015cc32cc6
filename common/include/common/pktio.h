/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pktio: packet I/O for the data-plane workers, one interface over several
 * back ends (one file each, behind an ops table):
 *   "afpacket"  AF_PACKET TPACKET_V2 RX/TX rings, one socket per (port,
 *               queue), each port's sockets in one PACKET_FANOUT_HASH group
 *               (pktio_afpacket.c);
 *   "pcap"      capture files in, capture files out, for tests and
 *               benchmarks (pktio_pcap.c);
 *   "afxdp"     AF_XDP sockets (copy or zero-copy as the driver allows) fed
 *               by one XDP program per interface that redirects unicast IP
 *               not addressed to the host; n_queues must equal the device's
 *               RX queues (-ECHRNG otherwise); no offload metadata, so a
 *               veth peer must not offload checksums (pktio_afxdp.c).
 * docs/pktio.md describes each back end, ring sizing and the traps found on
 * the lab (LAB-FACTS.md) and how they are handled.
 *
 * Threads. pktio_open() and pktio_close() belong to the control thread
 * (close only after every worker has stopped using the handle). Each queue
 * q in [0, n_queues) is owned by exactly one worker thread: rx_burst,
 * rx_release, tx_burst and wait on q are called only from that thread, so
 * the hot path takes no lock. pktio_stats() and pktio_eof() may be called
 * from any thread.
 *
 * Buffers. rx_burst() fills descriptors whose data points into the back
 * end's memory (the RX ring frame for AF_PACKET); the worker may rewrite the
 * bytes in place, and even grow the packet into the frame's headroom/
 * tailroom it was told about (room). The data stays valid until the next
 * pktio_rx_release() or pktio_rx_burst() on that queue, which hands the
 * frames back. tx_burst() copies, so a packet may be sent from any buffer,
 * and an RX frame may be transmitted and then released.
 *
 * Offload metadata. With vnet_hdr on, AF_PACKET carries the kernel's
 * virtio_net_hdr with each packet, so GSO super-packets (up to 64 KB) and
 * partial checksums (CHECKSUM_PARTIAL: the L4 checksum field holds only the
 * pseudo-header sum) pass through whole; the descriptor carries them in
 * flags/csum_start/csum_offset/gso_*, and tx_burst hands them back to the
 * kernel. A worker that rewrites such a packet must use pkt_parse()'s
 * partial-checksum mode (pktio_pkt_parse() does it) or complete the checksum
 * with pkt_csum_complete() and clear PKTIO_F_CSUM_PARTIAL.
 */
#ifndef LOOM_COMMON_PKTIO_H
#define LOOM_COMMON_PKTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

struct pkt_view;
struct virtio_net_hdr;

#define PKTIO_MAX_PORTS  16
#define PKTIO_MAX_QUEUES 64
#define PKTIO_MAX_BURST  256

/* Descriptor flags. */
enum {
	/* L4 checksum is partial: sum data[csum_start, len) into the 16-bit
	 * field at csum_start + csum_offset (which holds the pseudo-header
	 * sum) before the packet leaves a host; the kernel does it on TX. */
	PKTIO_F_CSUM_PARTIAL = 1u << 0,
	/* The kernel (or NIC) already verified the L4 checksum. */
	PKTIO_F_CSUM_VALID   = 1u << 1,
	/* A GSO super-packet: gso_type/gso_size/hdr_len describe how the
	 * kernel will cut it into segments of gso_size payload bytes. */
	PKTIO_F_GSO          = 1u << 2,
	/* data starts at the IP header (pcap LINKTYPE_RAW), not Ethernet. */
	PKTIO_F_RAW_IP       = 1u << 3,
};

/* GSO types, the virtio_net_hdr values (VIRTIO_NET_HDR_GSO_*). */
enum pktio_gso {
	PKTIO_GSO_NONE   = 0,
	PKTIO_GSO_TCPV4  = 1,
	PKTIO_GSO_UDP    = 3, /* UFO, legacy */
	PKTIO_GSO_TCPV6  = 4,
	PKTIO_GSO_UDP_L4 = 5, /* UDP segmentation (USO) */
	PKTIO_GSO_ECN    = 0x80, /* flag: TCP with CWR set */
};

/*
 * One packet. On RX every field is filled; on TX the caller sets data, len,
 * port and the offload fields (flags 0 for a plain packet).
 */
struct pktio_pkt {
	uint8_t *data;
	uint32_t len;
	uint16_t port;        /* RX: arrival port; TX: output port */
	uint16_t flags;       /* PKTIO_F_* */
	uint16_t csum_start;  /* from data, with PKTIO_F_CSUM_PARTIAL */
	uint16_t csum_offset; /* from csum_start */
	uint16_t gso_size;    /* payload bytes per segment, with PKTIO_F_GSO */
	uint16_t hdr_len;     /* bytes of headers (Ethernet..L4), with GSO */
	uint8_t gso_type;     /* enum pktio_gso */
	uint8_t pad_[3];
	uint32_t room;        /* writable bytes from data (>= len): a rewrite may grow the packet up to this */
	uint64_t ts_ns;       /* receive time, CLOCK_REALTIME ns (pcap: the record's time) */
};

struct pktio_port_cfg {
	const char *ifname;   /* afpacket: interface name */
	const char *pcap_in;  /* pcap: capture to read, or NULL */
	const char *pcap_out; /* pcap: capture to write (truncated), or NULL */
	uint32_t pcap_out_linktype; /* PCAP_LINKTYPE_*; 0: Ethernet */
	unsigned flags;       /* PKTIO_PORT_* */
};

enum {
	/*
	 * pcap: present every TCP/UDP packet (not a fragment) read from this
	 * port's input as the kernel presents CHECKSUM_PARTIAL traffic from a
	 * veth: its checksum field is replaced by the folded, uncomplemented
	 * pseudo-header sum and the descriptor gets PKTIO_F_CSUM_PARTIAL with
	 * csum_start = L4 header, csum_offset = 16 (TCP) or 6 (UDP). Other
	 * packets are left alone. The input capture must hold correct
	 * checksums.
	 */
	PKTIO_PORT_CSUM_PARTIAL = 1u << 0,
};

enum pktio_pace {
	PKTIO_PACE_FAST = 0, /* as fast as the caller asks */
	PKTIO_PACE_REAL,     /* honour the capture's inter-packet gaps */
};

struct pktio_cfg {
	const char *backend;  /* "afpacket" | "afxdp" | "pcap" */
	unsigned n_queues;    /* worker queues, 1..PKTIO_MAX_QUEUES (pcap: 1) */
	unsigned n_ports;     /* 1..PKTIO_MAX_PORTS */
	struct pktio_port_cfg ports[PKTIO_MAX_PORTS];

	/* afpacket */
	bool vnet_hdr;        /* PACKET_VNET_HDR: keep GSO and partial csums (do) */
	unsigned rx_frames;   /* per socket; 0: 256 (rounded up to whole blocks) */
	unsigned tx_frames;   /* per socket; 0: 256 */
	unsigned frame_size;  /* 0: 69632 with vnet_hdr (64 KB + headers), else 2048 */
	/* Port p joins fanout group fanout_id + p (a group is tied to one
	 * device). A second process opening the same interfaces with the same
	 * id and flags joins the same groups (see docs/pktio.md, restarts). */
	uint16_t fanout_id;
	bool fanout_defrag;   /* PACKET_FANOUT_FLAG_DEFRAG (reassembles IPv4!) */

	/* pcap */
	enum pktio_pace pace;
	/* 0: play the inputs once. N >= 1: play them N times from memory with
	 * no file access (for benchmarks); timestamps advance by the
	 * capture's span on each round. Inputs are always read whole at open. */
	unsigned loop;
	/* Asked before each packet is delivered; false: rx_burst returns what
	 * it has so far (0 if nothing). With a gate, rx_burst delivers at most
	 * one packet per call, so the gate sees the effect of each packet. */
	bool (*gate)(void *arg);
	void *gate_arg;
};

/* Per-queue counters, declared once. */
#define PKTIO_STAT_LIST(X)                                                      \
	X(PKTIO_ST_RX_PKTS,      "rx_packets")                                  \
	X(PKTIO_ST_RX_BYTES,     "rx_bytes")                                    \
	X(PKTIO_ST_RX_GSO,       "rx_gso")          /* super-packets received */ \
	X(PKTIO_ST_RX_CSUM_PARTIAL, "rx_csum_partial")                          \
	X(PKTIO_ST_RX_TRUNC,     "rx_truncated")    /* frame too small: dropped */ \
	X(PKTIO_ST_RX_BAD_META,  "rx_bad_metadata") /* unusable vnet header: dropped */ \
	X(PKTIO_ST_RX_KERNEL_DROPS, "rx_kernel_drops") /* ring was full (PACKET_STATISTICS) */ \
	X(PKTIO_ST_TX_PKTS,      "tx_packets")                                  \
	X(PKTIO_ST_TX_BYTES,     "tx_bytes")                                    \
	X(PKTIO_ST_TX_DIRECT,    "tx_direct")       /* of tx_packets: sent by sendmsg (afpacket, big) */ \
	X(PKTIO_ST_TX_RING_FULL, "tx_ring_full")    /* dropped: no free TX frame */ \
	X(PKTIO_ST_TX_TOO_BIG,   "tx_too_big")      /* dropped: longer than a frame */ \
	X(PKTIO_ST_TX_BAD_PORT,  "tx_bad_port")     /* dropped: no such port / no output */ \
	X(PKTIO_ST_TX_ERRORS,    "tx_errors")       /* kernel refused a frame or the kick */ \
	X(PKTIO_ST_SOCK_ERRORS,  "socket_errors")   /* a socket reported an error (device gone...) */

enum pktio_stat {
	PKTIO_STAT_LIST(LOOM_XENUM)
	PKTIO__ST_MAX
};

struct pktio_stats {
	uint64_t v[PKTIO__ST_MAX];
};

const char *pktio_stat_name(enum pktio_stat s);

struct pktio;

/* Fill cfg with defaults (vnet_hdr on, fanout_id 0x4c4d, one queue). */
void pktio_cfg_init(struct pktio_cfg *cfg, const char *backend);

/*
 * Open the back end. Control thread only. Returns 0 or negative errno
 * (-EINVAL for a bad configuration, -ENODEV for an unknown interface,
 * -EPERM without CAP_NET_RAW, a -PCAP_ERR_* for a bad input capture, ...).
 * The cfg strings are not kept after return.
 */
int pktio_open(const struct pktio_cfg *cfg, struct pktio **out);
/* Close; NULL is a no-op. No worker may use io any more. */
void pktio_close(struct pktio *io);

unsigned pktio_n_queues(const struct pktio *io);
unsigned pktio_n_ports(const struct pktio *io);
const char *pktio_backend(const struct pktio *io);

/*
 * Receive up to max (<= PKTIO_MAX_BURST) packets on queue q into pkts.
 * Returns the number filled (0: nothing ready now) or negative errno.
 * Releases the previous burst first if the caller did not. Worker of q only.
 */
int pktio_rx_burst(struct pktio *io, unsigned q, struct pktio_pkt *pkts, unsigned max);

/* Hand the frames of the last rx_burst back. Their data must not be used
 * afterwards. Worker of q only. */
void pktio_rx_release(struct pktio *io, unsigned q);

/*
 * Queue n packets for transmission on queue q; each names its port and its
 * offload metadata. Copies them, then kicks each port's socket once.
 * Returns how many were queued; the others are counted (tx_ring_full,
 * tx_too_big, tx_bad_port) and dropped. Worker of q only.
 */
int pktio_tx_burst(struct pktio *io, unsigned q, const struct pktio_pkt *pkts, unsigned n);

/*
 * Sleep until queue q may have packets, at most timeout_ms (-1: no limit;
 * 0: just check). Returns 1 when something may be ready, 0 on timeout,
 * negative errno. Spurious 1s are allowed: call rx_burst to find out.
 * Worker of q only.
 */
int pktio_wait(struct pktio *io, unsigned q, int timeout_ms);

/* True once a finite input (pcap) has been delivered whole; never true for
 * live back ends. Any thread. */
/*
 * Make pktio_wait() on queue q also return when fd becomes readable (an
 * eventfd another thread writes to hand the worker work, e.g. packets a
 * manager returned). The caller reads (drains) fd itself. -1 removes it.
 * Call before the worker starts waiting.
 */
int pktio_set_wake_fd(struct pktio *io, unsigned q, int fd);

bool pktio_eof(const struct pktio *io);

/* A snapshot of queue q's counters (q == -1u: the sum over queues).
 * Any thread; values may lag by a burst. */
void pktio_stats(struct pktio *io, unsigned q, struct pktio_stats *out);

/* --- offload metadata helpers --------------------------------------------- */

/*
 * Fill the descriptor's offload fields from a virtio_net_hdr (little endian,
 * as the kernel writes it for packet sockets). Returns 0, or -EINVAL when
 * the header is unusable for a packet of len bytes (csum_start/offset
 * outside it, unknown gso type, GSO without gso_size).
 */
int pktio_meta_from_vnet(struct pktio_pkt *p, const struct virtio_net_hdr *vh);
/* Write the descriptor's offload fields as a virtio_net_hdr. */
void pktio_meta_to_vnet(const struct pktio_pkt *p, struct virtio_net_hdr *vh);

/*
 * pkt_parse() (or pkt_parse_l3() for PKTIO_F_RAW_IP) of a received packet,
 * marking the view partial when the descriptor says so, so pkt_rewrite()
 * and friends keep the partial checksum right. Returns pkt_parse()'s value
 * or -PKT_ERR_CSUM_PARTIAL.
 */
int pktio_pkt_parse(const struct pktio_pkt *p, struct pkt_view *v);

#endif
