/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One sample message per message type, filled so that together they carry
 * every segment type and every optional field. The round-trip tests, the
 * fixture test (tests/fixtures/msg/<name>.bin) and the fuzz seed corpus all
 * start from these.
 */
#ifndef LOOM_TEST_MSG_SAMPLES_H
#define LOOM_TEST_MSG_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "common/msg.h"

struct msg_sample {
	const char *name;       /* fixture file name without .bin */
	enum msg_type type;
	void (*build)(struct msg *m);
	bool signed_;           /* sign with sample_key after encoding */
};

extern const struct msg_sample msg_samples[];
extern const size_t msg_nsamples;

extern const uint8_t sample_key[];
extern const size_t sample_keylen;

/* Encode (and sign, when the sample says so) into buf; returns the length. */
size_t sample_encode(const struct msg_sample *s, struct msg *m, uint8_t *buf, size_t cap);

#endif
