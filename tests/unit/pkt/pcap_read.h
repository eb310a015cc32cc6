/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny classic-pcap reader for the packet fixtures. It trusts nothing in
 * the file: magic, version, snap length and every record length are
 * checked before a byte is copied.
 */
#ifndef LOOM_TEST_PCAP_READ_H
#define LOOM_TEST_PCAP_READ_H

#include <stdint.h>

#define PCAP_MAX_PKTS 8
#define PCAP_MAX_LEN  (1u << 18) /* the usual snap length; fixtures reach 65598 */

#define PCAP_LINK_ETH 1
#define PCAP_LINK_RAW 101

struct pcap_pkt {
	uint8_t *data; /* malloc'ed, exactly len bytes (so ASan sees overreads) */
	uint32_t len;
};

struct pcap_file {
	uint32_t linktype;
	unsigned n;
	struct pcap_pkt pkt[PCAP_MAX_PKTS];
};

/* 0 or -errno (-EINVAL for a malformed file, -E2BIG for too many packets). */
int pcap_read(const char *path, struct pcap_file *f);
void pcap_free(struct pcap_file *f);

#endif
