// SPDX-License-Identifier: LGPL-2.1-or-later
#include "pcap_read.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p, bool swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

void pcap_free(struct pcap_file *f)
{
	for (unsigned i = 0; i < f->n; i++)
		free(f->pkt[i].data);
	memset(f, 0, sizeof(*f));
}

int pcap_read(const char *path, struct pcap_file *f)
{
	uint8_t gh[24], rh[16];
	uint32_t magic, snaplen;
	bool swap;
	int r = -EINVAL;
	FILE *fp;

	memset(f, 0, sizeof(*f));
	fp = fopen(path, "rb");
	if (!fp)
		return -errno;
	if (fread(gh, 1, sizeof(gh), fp) != sizeof(gh))
		goto out;
	memcpy(&magic, gh, 4);
	if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d)
		swap = false;
	else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
		swap = true;
	else
		goto out;
	if ((swap ? __builtin_bswap16((uint16_t)(gh[4] | gh[5] << 8)) : (gh[4] | gh[5] << 8)) != 2)
		goto out;
	snaplen = rd32(gh + 16, swap);
	f->linktype = rd32(gh + 20, swap);
	if (snaplen == 0 || snaplen > PCAP_MAX_LEN)
		goto out;
	for (;;) {
		size_t got = fread(rh, 1, sizeof(rh), fp);
		uint32_t incl, orig;

		if (got == 0 && feof(fp))
			break;
		if (got != sizeof(rh))
			goto out;
		incl = rd32(rh + 8, swap);
		orig = rd32(rh + 12, swap);
		/* A capture cut short would not be the packet scapy built. */
		if (incl > snaplen || incl != orig)
			goto out;
		if (f->n == PCAP_MAX_PKTS) {
			r = -E2BIG;
			goto out;
		}
		f->pkt[f->n].data = malloc(incl ? incl : 1);
		if (!f->pkt[f->n].data) {
			r = -ENOMEM;
			goto out;
		}
		f->pkt[f->n].len = incl;
		f->n++;
		if (fread(f->pkt[f->n - 1].data, 1, incl, fp) != incl)
			goto out;
	}
	r = 0;
out:
	fclose(fp);
	if (r)
		pcap_free(f);
	return r;
}
