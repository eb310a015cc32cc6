// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pcap files are input from outside (captures handed to the agent's pcap
 * back end, fixtures): read arbitrary bytes as a capture, every record into
 * a buffer of the cap's size, and parse each record as a packet the way the
 * back end hands it to the pipeline. Nothing may crash or read past a
 * buffer; a record must never claim more bytes than it stored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/pcap_file.h"
#include "common/pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[PCAP_FILE_MAX_REC];
	struct pcap_reader *r;
	FILE *f = fmemopen((void *)(uintptr_t)data, size, "rb");

	if (!f || size == 0) {
		if (f)
			fclose(f);
		return 0;
	}
	if (pcap_reader_open_stream(f, sizeof(buf), &r) < 0)
		return 0; /* the reader owns f, also on failure */
	for (unsigned n = 0; n < 10000; n++) {
		struct pcap_rec rec;
		struct pkt_view v;
		int rc = pcap_reader_next(r, &rec, buf, sizeof(buf));
		if (rc <= 0)
			break;
		if (rec.caplen > sizeof(buf) || rec.caplen > rec.origlen)
			__builtin_trap();
		if (pcap_reader_linktype(r) == PCAP_LINKTYPE_RAW)
			pkt_parse_l3(buf, rec.caplen, &v);
		else
			pkt_parse(buf, rec.caplen, &v);
	}
	pcap_reader_close(r);
	return 0;
}
