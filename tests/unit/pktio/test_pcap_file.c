// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pcap_file: round trips in both resolutions and byte orders, and every
 * malformed file the reader must refuse with its own reason.
 */
#include <criterion/criterion.h>
#include <byteswap.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pcap_file.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	strcpy(dir, "/tmp/loom-pcapf-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f.pcap", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(pcap_file, .init = setup, .fini = teardown);

/* A file built byte by byte, in either byte order. */
struct fbuf {
	uint8_t b[512];
	size_t n;
	bool swap;
};

static void put32(struct fbuf *f, uint32_t v)
{
	if (f->swap)
		v = bswap_32(v);
	memcpy(f->b + f->n, &v, 4);
	f->n += 4;
}

static void put16(struct fbuf *f, uint16_t v)
{
	if (f->swap)
		v = bswap_16(v);
	memcpy(f->b + f->n, &v, 2);
	f->n += 2;
}

static void put_hdr(struct fbuf *f, uint32_t magic, uint16_t major, uint32_t linktype)
{
	put32(f, magic);
	put16(f, major);
	put16(f, 4);
	put32(f, 0);
	put32(f, 0);
	put32(f, 65535);
	put32(f, linktype);
}

static void put_rec(struct fbuf *f, uint32_t sec, uint32_t frac, uint32_t caplen,
		    uint32_t origlen, size_t data_bytes)
{
	put32(f, sec);
	put32(f, frac);
	put32(f, caplen);
	put32(f, origlen);
	for (size_t i = 0; i < data_bytes; i++)
		f->b[f->n++] = (uint8_t)i;
}

static void save(const struct fbuf *f)
{
	FILE *fp = fopen(path, "wb");

	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(f->b, 1, f->n, fp), f->n);
	fclose(fp);
}

/* Open the saved file and read records until the end or an error. */
static int read_all(int *n_recs)
{
	struct pcap_reader *r;
	struct pcap_rec rec;
	uint8_t buf[2048];
	int rc;

	*n_recs = 0;
	rc = pcap_reader_open(path, 1024, &r);
	if (rc < 0)
		return rc;
	while ((rc = pcap_reader_next(r, &rec, buf, sizeof(buf))) > 0)
		(*n_recs)++;
	pcap_reader_close(r);
	return rc;
}

static void round_trip(bool nsec, uint32_t linktype)
{
	const uint64_t ts[3] = { 1700000000123456789ull, 1700000001000000001ull,
				 1700000003999999999ull };
	uint8_t pkt[300], buf[2048];
	struct pcap_writer *w;
	struct pcap_reader *r;
	struct pcap_rec rec;

	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7);
	cr_assert_eq(pcap_writer_open(path, linktype, 0, nsec, &w), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pcap_writer_write(w, ts[i], pkt, 100u * (unsigned)(i + 1)), 0);
	cr_assert_eq(pcap_writer_close(w), 0);

	cr_assert_eq(pcap_reader_open(path, 0, &r), 0);
	cr_assert_eq(pcap_reader_linktype(r), linktype);
	cr_assert_eq(pcap_reader_nsec(r), nsec);
	cr_assert_not(pcap_reader_swapped(r));
	for (int i = 0; i < 3; i++) {
		uint64_t want = nsec ? ts[i] : ts[i] / 1000 * 1000;

		cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), 1);
		cr_assert_eq(rec.ts_ns, want, "record %d ts %lu want %lu", i,
			     (unsigned long)rec.ts_ns, (unsigned long)want);
		cr_assert_eq(rec.caplen, 100u * (unsigned)(i + 1));
		cr_assert_eq(rec.origlen, rec.caplen);
		cr_assert_arr_eq(buf, pkt, rec.caplen);
	}
	cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), 0, "clean end of file");
	pcap_reader_close(r);
}

Test(pcap_file, round_trip_usec_ethernet)
{
	round_trip(false, PCAP_LINKTYPE_ETHERNET);
}

Test(pcap_file, round_trip_nsec_raw)
{
	round_trip(true, PCAP_LINKTYPE_RAW);
}

Test(pcap_file, writer_cuts_to_snaplen_and_keeps_origlen)
{
	uint8_t pkt[200] = { 1, 2, 3 }, buf[256];
	struct pcap_writer *w;
	struct pcap_reader *r;
	struct pcap_rec rec;

	cr_assert_eq(pcap_writer_open(path, PCAP_LINKTYPE_ETHERNET, 64, false, &w), 0);
	cr_assert_eq(pcap_writer_write(w, 0, pkt, sizeof(pkt)), 0);
	cr_assert_eq(pcap_writer_close(w), 0);
	cr_assert_eq(pcap_reader_open(path, 0, &r), 0);
	cr_assert_eq(pcap_reader_snaplen(r), 64);
	cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), 1);
	cr_assert_eq(rec.caplen, 64);
	cr_assert_eq(rec.origlen, 200);
	pcap_reader_close(r);
}

Test(pcap_file, writer_refuses_other_linktypes)
{
	struct pcap_writer *w;

	cr_assert_eq(pcap_writer_open(path, 105, 0, false, &w), -EINVAL);
	cr_assert_null(w);
}

static void read_swapped(uint32_t magic, bool nsec)
{
	struct fbuf f = { .swap = true };
	struct pcap_reader *r;
	struct pcap_rec rec;
	uint8_t buf[64];

	put_hdr(&f, magic, 2, PCAP_LINKTYPE_ETHERNET);
	put_rec(&f, 10, nsec ? 999999999u : 999999u, 20, 60, 20);
	save(&f);
	cr_assert_eq(pcap_reader_open(path, 0, &r), 0);
	cr_assert(pcap_reader_swapped(r));
	cr_assert_eq(pcap_reader_nsec(r), nsec);
	cr_assert_eq(pcap_reader_linktype(r), PCAP_LINKTYPE_ETHERNET);
	cr_assert_eq(pcap_reader_snaplen(r), 65535);
	cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), 1);
	cr_assert_eq(rec.caplen, 20);
	cr_assert_eq(rec.origlen, 60);
	cr_assert_eq(rec.ts_ns, nsec ? 10999999999ull : 10999999000ull);
	cr_assert_eq(buf[19], 19);
	cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), 0);
	pcap_reader_close(r);
}

Test(pcap_file, other_byte_order_usec)
{
	read_swapped(0xa1b2c3d4u, false);
}

Test(pcap_file, other_byte_order_nsec)
{
	read_swapped(0xa1b23c4du, true);
}

/* One malformed file per row: what the reader must answer, at open or at
 * the first record that is wrong (after n_good good ones). */
struct bad_case {
	const char *desc;
	void (*build)(struct fbuf *f);
	int open_err;
	int next_err;
	int n_good;
};

static void b_empty(struct fbuf *f)
{
	(void)f;
}

static void b_short_hdr(struct fbuf *f)
{
	put_hdr(f, 0xa1b2c3d4u, 2, 1);
	f->n = 10;
}

static void b_magic(struct fbuf *f)
{
	put_hdr(f, 0x0a0d0d0au, 2, 1); /* pcapng */
}

static void b_version(struct fbuf *f)
{
	put_hdr(f, 0xa1b2c3d4u, 3, 1);
}

static void b_linktype(struct fbuf *f)
{
	put_hdr(f, 0xa1b2c3d4u, 2, 105);
}

static void b_rec_hdr_trunc(struct fbuf *f)
{
	put_hdr(f, 0xa1b2c3d4u, 2, 1);
	put_rec(f, 1, 0, 4, 4, 4);
	put32(f, 2);
	put32(f, 0);
}

static void b_too_long(struct fbuf *f)
{
	put_hdr(f, 0xa1b2c3d4u, 2, 1);
	put_rec(f, 1, 0, 1025, 1025, 0); /* the test's cap is 1024 */
}

static void b_huge(struct fbuf *f)
{
	put_hdr(f, 0xa1b2c3d4u, 2, 1);
	put_rec(f, 1, 0, 0xffffffffu, 0xffffffffu, 0);
}

static void b_caplen(struct fbuf *f)
{
	put_hdr(f, 0xa1b2c3d4u, 2, 1);
	put_rec(f, 1, 0, 20, 10, 20);
}

static void b_data_trunc(struct fbuf *f)
{
	put_hdr(f, 0xa1b2c3d4u, 2, 1);
	put_rec(f, 1, 0, 30, 30, 30);
	put_rec(f, 1, 0, 100, 100, 40);
}

static void b_usec(struct fbuf *f)
{
	put_hdr(f, 0xa1b2c3d4u, 2, 1);
	put_rec(f, 1, 1000000u, 4, 4, 4);
}

static void b_swapped_too_long(struct fbuf *f)
{
	f->swap = true;
	put_hdr(f, 0xa1b2c3d4u, 2, 1);
	put_rec(f, 1, 0, 4, 4, 4);
	put_rec(f, 1, 0, 2000, 2000, 0);
}

static const struct bad_case bad_cases[] = {
	{ "empty file", b_empty, -PCAP_ERR_HDR_TRUNC, 0, 0 },
	{ "file header cut at 10 bytes", b_short_hdr, -PCAP_ERR_HDR_TRUNC, 0, 0 },
	{ "pcapng magic", b_magic, -PCAP_ERR_MAGIC, 0, 0 },
	{ "version 3", b_version, -PCAP_ERR_VERSION, 0, 0 },
	{ "link type 105 (802.11)", b_linktype, -PCAP_ERR_LINKTYPE, 0, 0 },
	{ "record header cut after 8 bytes", b_rec_hdr_trunc, 0, -PCAP_ERR_REC_TRUNC, 1 },
	{ "record one byte above the cap", b_too_long, 0, -PCAP_ERR_REC_TOO_LONG, 0 },
	{ "record of 4 GiB", b_huge, 0, -PCAP_ERR_REC_TOO_LONG, 0 },
	{ "caplen above origlen", b_caplen, 0, -PCAP_ERR_CAPLEN, 0 },
	{ "record data cut short", b_data_trunc, 0, -PCAP_ERR_DATA_TRUNC, 1 },
	{ "microseconds = 1000000", b_usec, 0, -PCAP_ERR_TS, 0 },
	{ "other byte order, too long", b_swapped_too_long, 0, -PCAP_ERR_REC_TOO_LONG, 1 },
};

Test(pcap_file, malformed_files)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct fbuf f = { .n = 0 };
		int n, rc;

		c->build(&f);
		save(&f);
		rc = read_all(&n);
		cr_expect_eq(rc, c->open_err ? c->open_err : c->next_err,
			     "%s: got %d (%s)", c->desc, rc, pcap_strerror(rc));
		cr_expect_eq(n, c->n_good, "%s: %d good records before the error", c->desc, n);
	}
}

Test(pcap_file, errors_are_sticky_and_named)
{
	struct fbuf f = { .n = 0 };
	struct pcap_reader *r;
	struct pcap_rec rec;
	uint8_t buf[64];

	b_caplen(&f);
	save(&f);
	cr_assert_eq(pcap_reader_open(path, 0, &r), 0);
	cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), -PCAP_ERR_CAPLEN);
	cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), -PCAP_ERR_CAPLEN);
	pcap_reader_close(r);
	cr_assert_str_eq(pcap_strerror(-PCAP_ERR_MAGIC), "bad magic: not a classic pcap file");
	cr_assert_str_eq(pcap_strerror(-ENOENT), strerror(ENOENT));
}

Test(pcap_file, buffer_smaller_than_record)
{
	struct fbuf f = { .n = 0 };
	struct pcap_reader *r;
	struct pcap_rec rec;
	uint8_t buf[64];

	put_hdr(&f, 0xa1b2c3d4u, 2, 1);
	put_rec(&f, 1, 0, 100, 100, 100);
	save(&f);
	cr_assert_eq(pcap_reader_open(path, 0, &r), 0);
	cr_assert_eq(pcap_reader_next(r, &rec, buf, 64), -PCAP_ERR_REC_TOO_LONG);
	pcap_reader_close(r);
}

Test(pcap_file, missing_file)
{
	struct pcap_reader *r;

	cr_assert_eq(pcap_reader_open("/nonexistent/x.pcap", 0, &r), -ENOENT);
	cr_assert_null(r);
}
