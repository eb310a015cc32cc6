/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcap_file: a small, validating reader and writer of classic pcap files
 * (the libpcap format, not pcapng), for the pcap packet I/O back end, test
 * fixtures and tools.
 *
 * Supported: LINKTYPE_ETHERNET (1) and LINKTYPE_RAW (101, bare IPv4/IPv6);
 * microsecond (0xa1b2c3d4) and nanosecond (0xa1b23c4d) magic, written in
 * either byte order. The writer writes the host's byte order.
 *
 * Nothing read from a file is trusted: the header is checked field by
 * field, and a record's captured length is checked against the reader's cap
 * (and the caller's buffer) before a byte of it is read, so a hostile file
 * can neither make us read past a buffer nor allocate what it asks for.
 *
 * Errors are negative: -errno for I/O (-ENOENT, -EIO, -ENOMEM...) or
 * -PCAP_ERR_* below for a malformed file; pcap_strerror() names both.
 * A reader or writer is used by one thread at a time.
 */
#ifndef LOOM_COMMON_PCAP_FILE_H
#define LOOM_COMMON_PCAP_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/compiler.h"

#define PCAP_LINKTYPE_ETHERNET 1
#define PCAP_LINKTYPE_RAW      101

/* The largest record the reader accepts at all (and the default cap). */
#define PCAP_FILE_MAX_REC 262144u

/* Malformed-file reasons. They start above any errno value so one negative
 * int carries either. */
#define PCAP_ERR_LIST(X)                                                        \
	X(PCAP_ERR_HDR_TRUNC,   "truncated pcap file header")                   \
	X(PCAP_ERR_MAGIC,       "bad magic: not a classic pcap file")           \
	X(PCAP_ERR_VERSION,     "unsupported pcap version (want 2.x)")          \
	X(PCAP_ERR_LINKTYPE,    "unsupported link type (want Ethernet or raw IP)") \
	X(PCAP_ERR_REC_TRUNC,   "truncated record header")                      \
	X(PCAP_ERR_DATA_TRUNC,  "truncated record data")                        \
	X(PCAP_ERR_REC_TOO_LONG, "record longer than the cap")                  \
	X(PCAP_ERR_CAPLEN,      "record captured length above its original length") \
	X(PCAP_ERR_TS,          "record timestamp fraction out of range")

enum pcap_err {
	PCAP__ERR_FIRST = 4095,
	PCAP_ERR_LIST(LOOM_XENUM)
	PCAP__ERR_MAX
};

/* A message for a value returned by this API (negative), errno or PCAP_ERR. */
const char *pcap_strerror(int err);

struct pcap_rec {
	uint64_t ts_ns;   /* nanoseconds since the epoch (µs files: multiple of 1000) */
	uint32_t caplen;  /* bytes stored in the caller's buffer */
	uint32_t origlen; /* length on the wire (>= caplen) */
};

struct pcap_reader;

/*
 * Open path and validate its file header. max_rec caps the captured length
 * of every record (0: PCAP_FILE_MAX_REC; never more than that).
 */
int pcap_reader_open(const char *path, uint32_t max_rec, struct pcap_reader **out);
/* The same over an open stream (e.g. fmemopen() for fuzzing); the reader
 * owns f from then on, also on failure. */
int pcap_reader_open_stream(FILE *f, uint32_t max_rec, struct pcap_reader **out);
uint32_t pcap_reader_linktype(const struct pcap_reader *r);
bool pcap_reader_nsec(const struct pcap_reader *r);
/* True when the file was written in the other byte order. */
bool pcap_reader_swapped(const struct pcap_reader *r);
uint32_t pcap_reader_snaplen(const struct pcap_reader *r);

/*
 * Read the next record into buf (buf_size bytes). Returns 1 with *rec
 * filled, 0 at a clean end of file (no partial record), or negative.
 * A record longer than min(cap, buf_size) is -PCAP_ERR_REC_TOO_LONG and
 * nothing is copied. After an error the reader stays in error.
 */
int pcap_reader_next(struct pcap_reader *r, struct pcap_rec *rec, uint8_t *buf,
		     uint32_t buf_size);
void pcap_reader_close(struct pcap_reader *r);

struct pcap_writer;

/* Create (truncate) path with the given link type and snap length (records
 * longer than snaplen are cut to it; 0: 65535). nsec picks the magic. */
int pcap_writer_open(const char *path, uint32_t linktype, uint32_t snaplen, bool nsec,
		     struct pcap_writer **out);
/* Append one record; origlen is len, caplen min(len, snaplen). */
int pcap_writer_write(struct pcap_writer *w, uint64_t ts_ns, const void *data, uint32_t len);
int pcap_writer_flush(struct pcap_writer *w);
uint32_t pcap_writer_linktype(const struct pcap_writer *w);
/* Flush and close; returns the first error seen since open (0 if none). */
int pcap_writer_close(struct pcap_writer *w);

#endif
