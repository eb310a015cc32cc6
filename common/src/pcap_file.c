// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Classic pcap files: see common/pcap_file.h. Every field read from the file
 * is checked before it is used; lengths are compared with our caps before
 * any data is copied.
 */
#include <byteswap.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/pcap_file.h"

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du

struct pcap_file_hdr {
	uint32_t magic;
	uint16_t version_major;
	uint16_t version_minor;
	int32_t thiszone;
	uint32_t sigfigs;
	uint32_t snaplen;
	uint32_t linktype;
};

struct pcap_rec_hdr {
	uint32_t ts_sec;
	uint32_t ts_frac;
	uint32_t caplen;
	uint32_t origlen;
};

_Static_assert(sizeof(struct pcap_file_hdr) == 24, "pcap file header is 24 bytes");
_Static_assert(sizeof(struct pcap_rec_hdr) == 16, "pcap record header is 16 bytes");

struct pcap_reader {
	FILE *f;
	uint32_t cap;
	uint32_t linktype;
	uint32_t snaplen;
	bool nsec;
	bool swapped;
	int err; /* sticky */
};

struct pcap_writer {
	FILE *f;
	uint32_t linktype;
	uint32_t snaplen;
	bool nsec;
	int err; /* first error seen */
};

#define PCAP_XSTR_(name, str) [name - PCAP_ERR_HDR_TRUNC] = str,
static const char *const pcap_err_strs[] = { PCAP_ERR_LIST(PCAP_XSTR_) };
#undef PCAP_XSTR_

const char *pcap_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= PCAP_ERR_HDR_TRUNC && err < PCAP__ERR_MAX)
		return pcap_err_strs[err - PCAP_ERR_HDR_TRUNC];
	return strerror(err);
}

static uint32_t rd32(const struct pcap_reader *r, uint32_t v)
{
	return r->swapped ? bswap_32(v) : v;
}

/* fread() that tells a clean end (0), a short read (1) and a full read (2). */
static int read_full(FILE *f, void *buf, size_t len)
{
	size_t got = fread(buf, 1, len, f);

	if (got == len)
		return 2;
	if (ferror(f))
		return -EIO;
	return got == 0 ? 0 : 1;
}

int pcap_reader_open_stream(FILE *f, uint32_t max_rec, struct pcap_reader **out)
{
	struct pcap_file_hdr h;
	struct pcap_reader *r;
	uint32_t magic;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		fclose(f);
		return -ENOMEM;
	}
	r->f = f;
	r->cap = (max_rec == 0 || max_rec > PCAP_FILE_MAX_REC) ? PCAP_FILE_MAX_REC : max_rec;

	rc = read_full(f, &h, sizeof(h));
	if (rc < 0)
		goto fail;
	if (rc != 2) {
		rc = -PCAP_ERR_HDR_TRUNC;
		goto fail;
	}
	magic = h.magic;
	if (magic == bswap_32(PCAP_MAGIC_US) || magic == bswap_32(PCAP_MAGIC_NS)) {
		r->swapped = true;
		magic = bswap_32(magic);
	}
	if (magic != PCAP_MAGIC_US && magic != PCAP_MAGIC_NS) {
		rc = -PCAP_ERR_MAGIC;
		goto fail;
	}
	r->nsec = magic == PCAP_MAGIC_NS;
	if ((r->swapped ? bswap_16(h.version_major) : h.version_major) != 2) {
		rc = -PCAP_ERR_VERSION;
		goto fail;
	}
	r->snaplen = rd32(r, h.snaplen);
	/* The upper 16 bits carry FCS information we do not support. */
	r->linktype = rd32(r, h.linktype);
	if (r->linktype != PCAP_LINKTYPE_ETHERNET && r->linktype != PCAP_LINKTYPE_RAW) {
		rc = -PCAP_ERR_LINKTYPE;
		goto fail;
	}
	*out = r;
	return 0;
fail:
	fclose(f);
	free(r);
	return rc;
}

int pcap_reader_open(const char *path, uint32_t max_rec, struct pcap_reader **out)
{
	FILE *f = fopen(path, "rb");

	*out = NULL;
	if (!f)
		return -errno;
	return pcap_reader_open_stream(f, max_rec, out);
}

uint32_t pcap_reader_linktype(const struct pcap_reader *r)
{
	return r->linktype;
}

bool pcap_reader_nsec(const struct pcap_reader *r)
{
	return r->nsec;
}

bool pcap_reader_swapped(const struct pcap_reader *r)
{
	return r->swapped;
}

uint32_t pcap_reader_snaplen(const struct pcap_reader *r)
{
	return r->snaplen;
}

int pcap_reader_next(struct pcap_reader *r, struct pcap_rec *rec, uint8_t *buf,
		     uint32_t buf_size)
{
	struct pcap_rec_hdr h;
	uint32_t caplen, origlen, frac, cap;
	int rc;

	if (r->err)
		return r->err;
	rc = read_full(r->f, &h, sizeof(h));
	if (rc == 0)
		return 0;
	if (rc == 1)
		rc = -PCAP_ERR_REC_TRUNC;
	if (rc < 0)
		return r->err = rc;

	caplen = rd32(r, h.caplen);
	origlen = rd32(r, h.origlen);
	frac = rd32(r, h.ts_frac);
	cap = buf_size < r->cap ? buf_size : r->cap;
	if (caplen > cap)
		return r->err = -PCAP_ERR_REC_TOO_LONG;
	if (caplen > origlen)
		return r->err = -PCAP_ERR_CAPLEN;
	if (frac >= (r->nsec ? 1000000000u : 1000000u))
		return r->err = -PCAP_ERR_TS;
	rc = read_full(r->f, buf, caplen);
	if (rc < 0)
		return r->err = rc;
	if (rc != 2 && caplen != 0)
		return r->err = -PCAP_ERR_DATA_TRUNC;

	rec->ts_ns = (uint64_t)rd32(r, h.ts_sec) * 1000000000u +
		     (r->nsec ? frac : (uint64_t)frac * 1000u);
	rec->caplen = caplen;
	rec->origlen = origlen;
	return 1;
}

void pcap_reader_close(struct pcap_reader *r)
{
	if (!r)
		return;
	fclose(r->f);
	free(r);
}

int pcap_writer_open(const char *path, uint32_t linktype, uint32_t snaplen, bool nsec,
		     struct pcap_writer **out)
{
	struct pcap_file_hdr h = {
		.magic = nsec ? PCAP_MAGIC_NS : PCAP_MAGIC_US,
		.version_major = 2,
		.version_minor = 4,
		.snaplen = snaplen ? snaplen : 65535,
		.linktype = linktype,
	};
	struct pcap_writer *w;

	*out = NULL;
	if (linktype != PCAP_LINKTYPE_ETHERNET && linktype != PCAP_LINKTYPE_RAW)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->f = fopen(path, "wb");
	if (!w->f) {
		int err = -errno;

		free(w);
		return err;
	}
	w->linktype = linktype;
	w->snaplen = h.snaplen;
	w->nsec = nsec;
	if (fwrite(&h, sizeof(h), 1, w->f) != 1)
		w->err = -EIO;
	*out = w;
	return w->err;
}

int pcap_writer_write(struct pcap_writer *w, uint64_t ts_ns, const void *data, uint32_t len)
{
	uint32_t caplen = len < w->snaplen ? len : w->snaplen;
	uint64_t sec = ts_ns / 1000000000u, ns = ts_ns % 1000000000u;
	struct pcap_rec_hdr h = {
		.ts_sec = (uint32_t)sec,
		.ts_frac = (uint32_t)(w->nsec ? ns : ns / 1000u),
		.caplen = caplen,
		.origlen = len,
	};

	if (w->err)
		return w->err;
	if (fwrite(&h, sizeof(h), 1, w->f) != 1 ||
	    (caplen && fwrite(data, caplen, 1, w->f) != 1))
		w->err = -EIO;
	return w->err;
}

int pcap_writer_flush(struct pcap_writer *w)
{
	if (!w->err && fflush(w->f) != 0)
		w->err = -errno;
	return w->err;
}

uint32_t pcap_writer_linktype(const struct pcap_writer *w)
{
	return w->linktype;
}

int pcap_writer_close(struct pcap_writer *w)
{
	int err;

	if (!w)
		return 0;
	err = w->err;
	if (fclose(w->f) != 0 && !err)
		err = -errno;
	free(w);
	return err;
}
