// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A bounded msgpack reader: just the value kinds the protocol uses, each
 * length checked against the bytes left before anything is read, nothing
 * allocated, and a skip that walks nested values with a counter instead of
 * recursion, so input depth cannot exhaust the stack.
 */
#include <string.h>

#include "msg-internal.h"

static size_t left(const struct msg_rd *r)
{
	return (size_t)(r->end - r->p);
}

/* Big-endian n-byte unsigned at p[1..n] (after the type byte). */
static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Read the header of a length-prefixed value whose type byte is p[0] and
 * whose length is the next n bytes. Returns the header size or 0 if short.
 */
static size_t len_hdr(const struct msg_rd *r, unsigned n, uint32_t *len)
{
	if (left(r) < 1 + (size_t)n)
		return 0;
	*len = (uint32_t)be(r->p + 1, n);
	return 1 + n;
}

int msg_rd_uint(struct msg_rd *r, uint64_t *v)
{
	unsigned n;
	uint8_t t;
	bool is_signed = false;

	if (!left(r))
		return -MSG_E_TRUNCATED;
	t = r->p[0];
	if (t <= 0x7f) {
		*v = t;
		r->p++;
		return 0;
	}
	if (t >= 0xe0)
		return -MSG_E_RANGE; /* negative fixint */
	switch (t) {
	case 0xcc: n = 1; break;
	case 0xcd: n = 2; break;
	case 0xce: n = 4; break;
	case 0xcf: n = 8; break;
	case 0xd0: n = 1; is_signed = true; break;
	case 0xd1: n = 2; is_signed = true; break;
	case 0xd2: n = 4; is_signed = true; break;
	case 0xd3: n = 8; is_signed = true; break;
	case 0xc1: return -MSG_E_SYNTAX;
	default: return -MSG_E_TYPE;
	}
	if (left(r) < 1 + (size_t)n)
		return -MSG_E_TRUNCATED;
	*v = be(r->p + 1, n);
	/* Other encoders may write a non-negative value in a signed form. */
	if (is_signed && (*v >> (8 * n - 1)))
		return -MSG_E_RANGE;
	r->p += 1 + n;
	return 0;
}

int msg_rd_bool(struct msg_rd *r, bool *v)
{
	if (!left(r))
		return -MSG_E_TRUNCATED;
	if (r->p[0] != 0xc2 && r->p[0] != 0xc3)
		return r->p[0] == 0xc1 ? -MSG_E_SYNTAX : -MSG_E_TYPE;
	*v = r->p[0] == 0xc3;
	r->p++;
	return 0;
}

static int rd_container(struct msg_rd *r, uint32_t *n, uint8_t fix, uint8_t t16, uint8_t t32)
{
	size_t h;
	uint8_t t;

	if (!left(r))
		return -MSG_E_TRUNCATED;
	t = r->p[0];
	if ((t & 0xf0) == fix) {
		*n = t & 0x0f;
		h = 1;
	} else if (t == t16 || t == t32) {
		h = len_hdr(r, t == t16 ? 2 : 4, n);
		if (!h)
			return -MSG_E_TRUNCATED;
	} else {
		return t == 0xc1 ? -MSG_E_SYNTAX : -MSG_E_TYPE;
	}
	/* Every element takes at least one byte: a count beyond the bytes
	 * left is a lie we can catch before looping over it. */
	if (*n > left(r) - h)
		return -MSG_E_TRUNCATED;
	r->p += h;
	return 0;
}

int msg_rd_array(struct msg_rd *r, uint32_t *n)
{
	return rd_container(r, n, 0x90, 0xdc, 0xdd);
}

int msg_rd_map(struct msg_rd *r, uint32_t *n)
{
	const uint8_t *p0 = r->p;
	int rc = rd_container(r, n, 0x80, 0xde, 0xdf);

	/* Each entry is two values. */
	if (!rc && (uint64_t)*n * 2 > left(r)) {
		r->p = p0;
		return -MSG_E_TRUNCATED;
	}
	return rc;
}

static int rd_blob(struct msg_rd *r, const uint8_t **data, uint32_t *len, bool str)
{
	size_t h;
	uint8_t t;

	if (!left(r))
		return -MSG_E_TRUNCATED;
	t = r->p[0];
	if (str && (t & 0xe0) == 0xa0) {
		*len = t & 0x1f;
		h = 1;
	} else if (t == (str ? 0xd9 : 0xc4)) {
		h = len_hdr(r, 1, len);
	} else if (t == (str ? 0xda : 0xc5)) {
		h = len_hdr(r, 2, len);
	} else if (t == (str ? 0xdb : 0xc6)) {
		h = len_hdr(r, 4, len);
	} else {
		return t == 0xc1 ? -MSG_E_SYNTAX : -MSG_E_TYPE;
	}
	if (!h || *len > left(r) - h)
		return -MSG_E_TRUNCATED;
	*data = r->p + h;
	r->p += h + *len;
	return 0;
}

int msg_rd_bin(struct msg_rd *r, const uint8_t **data, uint32_t *len)
{
	return rd_blob(r, data, len, false);
}

int msg_rd_str(struct msg_rd *r, const uint8_t **data, uint32_t *len)
{
	return rd_blob(r, data, len, true);
}

/*
 * Size of the value starting at p[0], as header bytes + payload bytes, and
 * how many nested values follow it (array elements, map keys and values).
 */
static int value_shape(const struct msg_rd *r, size_t *size, uint64_t *children)
{
	uint8_t t = r->p[0];
	uint32_t len = 0;
	size_t h = 1;

	*children = 0;
	if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
		*size = 1;
		return 0;
	}
	if ((t & 0xf0) == 0x80) {
		*children = 2u * (t & 0x0f);
		*size = 1;
		return 0;
	}
	if ((t & 0xf0) == 0x90) {
		*children = t & 0x0f;
		*size = 1;
		return 0;
	}
	if ((t & 0xe0) == 0xa0) {
		*size = 1 + (size_t)(t & 0x1f);
		return 0;
	}
	switch (t) {
	case 0xcc: case 0xd0: *size = 2; return 0;
	case 0xcd: case 0xd1: *size = 3; return 0;
	case 0xce: case 0xd2: case 0xca: *size = 5; return 0;
	case 0xcf: case 0xd3: case 0xcb: *size = 9; return 0;
	case 0xd4: *size = 3; return 0;  /* fixext: type byte + data */
	case 0xd5: *size = 4; return 0;
	case 0xd6: *size = 6; return 0;
	case 0xd7: *size = 10; return 0;
	case 0xd8: *size = 18; return 0;
	case 0xc4: case 0xd9: h = len_hdr(r, 1, &len); break;
	case 0xc5: case 0xda: h = len_hdr(r, 2, &len); break;
	case 0xc6: case 0xdb: h = len_hdr(r, 4, &len); break;
	case 0xc7: h = len_hdr(r, 1, &len); h += h ? 1 : 0; break; /* ext */
	case 0xc8: h = len_hdr(r, 2, &len); h += h ? 1 : 0; break;
	case 0xc9: h = len_hdr(r, 4, &len); h += h ? 1 : 0; break;
	case 0xdc: h = len_hdr(r, 2, &len); *children = len; len = 0; break;
	case 0xdd: h = len_hdr(r, 4, &len); *children = len; len = 0; break;
	case 0xde: h = len_hdr(r, 2, &len); *children = 2ull * len; len = 0; break;
	case 0xdf: h = len_hdr(r, 4, &len); *children = 2ull * len; len = 0; break;
	default: return -MSG_E_SYNTAX; /* 0xc1 */
	}
	if (!h)
		return -MSG_E_TRUNCATED;
	*size = h + len;
	return 0;
}

int msg_rd_skip(struct msg_rd *r)
{
	const uint8_t *p0 = r->p;
	uint64_t pending = 1, children;
	size_t size;
	int rc;

	while (pending) {
		/* Each pending value needs at least one byte. */
		if (pending > left(r)) {
			rc = -MSG_E_TRUNCATED;
			goto out;
		}
		rc = value_shape(r, &size, &children);
		if (rc)
			goto out;
		if (size > left(r)) {
			rc = -MSG_E_TRUNCATED;
			goto out;
		}
		r->p += size;
		pending = pending - 1 + children;
	}
	return 0;
out:
	r->p = p0;
	return rc;
}
