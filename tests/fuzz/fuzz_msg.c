// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Decode arbitrary bytes. Whatever decodes must encode again, and decoding
 * that must give the same message (decode is the inverse of encode), and
 * re-encoding must reproduce the same bytes (the encoding is canonical).
 * msg_verify() walks the same bytes with its own prefix parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct msg m1, m2, m3;
static uint8_t out1[MSG_MAX_SIZE], out2[MSG_MAX_SIZE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[] = "fuzz";
	struct msg_err err;
	char why[MSG_ERR_STR_LEN];
	size_t len1, len2;

	(void)msg_verify(data, size, key, sizeof(key) - 1);
	if (msg_decode(data, size, &m1, &err) != 0) {
		msg_err_str(&err, why, sizeof(why));
		return 0;
	}
	if (msg_encode(&m1, out1, sizeof(out1), &len1, &err) != 0)
		abort(); /* we refused to send what we accepted */
	if (msg_decode(out1, len1, &m2, &err) != 0)
		abort();
	if (!msg_equal(&m1, &m2) || m2.skipped != 0)
		abort();
	if (msg_encode(&m2, out2, sizeof(out2), &len2, &err) != 0)
		abort();
	if (len1 != len2 || memcmp(out1, out2, len1) != 0)
		abort();
	/* Decoding into a dirty struct gives the same result. */
	memset(&m3, 0xa5, sizeof(m3));
	if (msg_decode(out1, len1, &m3, &err) != 0 || !msg_equal(&m2, &m3))
		abort();
	return 0;
}
