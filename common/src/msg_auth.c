// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Message authentication: the security segment's hmac-sha256.
 *
 * The authenticator covers the whole encoded message, with its own 32 bytes
 * taken as zero. That binds the header, every segment and the security
 * segment's type to the key, and needs no second encoding: the verifier
 * hashes the bytes it received, feeding zeros in place of the authenticator.
 * Only the prefix up to the authenticator is parsed here, so this works on
 * messages of any type, before or without msg_decode().
 */
#include <pthread.h>
#include <sodium.h>

#include "msg-internal.h"

/*
 * Find the authenticator of an hmac-sha256 security segment at index 0:
 * returns 0 and its offset, -MSG_E_NOAUTH if there is none, or the error
 * that stopped the parse. Follows the decoder's rules on the part it reads
 * (exact array sizes, no duplicate keys), so both agree on which bytes are
 * the authenticator.
 */
static int locate(const uint8_t *buf, size_t len, size_t *off)
{
	struct msg_rd r = { .start = buf, .p = buf, .end = buf + len };
	const uint8_t *data = NULL;
	uint64_t v, stype, sectype = UINT64_MAX, key;
	uint32_t n, dlen = 0;
	int rc;

	if (len > MSG_MAX_SIZE)
		return -MSG_E_TOO_BIG;
	if ((rc = msg_rd_array(&r, &n)))
		return rc;
	if (n != 3)
		return -MSG_E_LENGTH;
	if ((rc = msg_rd_uint(&r, &v)))
		return rc;
	if (v < MSG_VERSION_MIN || v > MSG_VERSION_MAX)
		return -MSG_E_VERSION;
	if ((rc = msg_rd_uint(&r, &v)) || (rc = msg_rd_array(&r, &n)))
		return rc;
	if (n == 0)
		return -MSG_E_NOAUTH;
	if ((rc = msg_rd_array(&r, &n)))
		return rc;
	if (n != 3)
		return -MSG_E_LENGTH;
	if ((rc = msg_rd_uint(&r, &stype)) || (rc = msg_rd_uint(&r, &v)))
		return rc;
	if (stype != MSG_S_SECURITY)
		return -MSG_E_NOAUTH;
	if ((rc = msg_rd_map(&r, &n)))
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = msg_rd_uint(&r, &key)))
			return rc;
		if ((key == 1 && sectype != UINT64_MAX) || (key == 2 && data))
			return -MSG_E_DUP_KEY;
		if (key == 1)
			rc = msg_rd_uint(&r, &sectype);
		else if (key == 2)
			rc = msg_rd_bin(&r, &data, &dlen);
		else
			rc = msg_rd_skip(&r);
		if (rc)
			return rc;
	}
	if (sectype != MSG_SEC_HMAC_SHA256 || !data || dlen != MSG_HMAC_LEN)
		return -MSG_E_NOAUTH;
	*off = (size_t)(data - buf);
	return 0;
}

static void mac(const uint8_t *buf, size_t len, size_t off, const uint8_t *key,
		size_t keylen, uint8_t out[MSG_HMAC_LEN])
{
	static const uint8_t zeros[MSG_HMAC_LEN];
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, buf, off);
	crypto_auth_hmacsha256_update(&st, zeros, sizeof(zeros));
	crypto_auth_hmacsha256_update(&st, buf + off + MSG_HMAC_LEN, len - off - MSG_HMAC_LEN);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* libsodium must be initialised once before any other call; sodium_init()
 * only fails when the library cannot work at all. */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static bool sodium_ready;

static void sodium_setup(void)
{
	sodium_ready = sodium_init() >= 0;
}

/* The authenticator buf should carry with key, and where it goes. */
static int expected_tag(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen,
			size_t *off, uint8_t tag[MSG_HMAC_LEN])
{
	int rc;

	pthread_once(&sodium_once, sodium_setup);
	if (!sodium_ready)
		return -MSG_E_AUTH; /* fail closed */
	rc = locate(buf, len, off);
	if (rc)
		return rc;
	mac(buf, len, *off, key, keylen, tag);
	return 0;
}

int msg_sign(uint8_t *buf, size_t len, const uint8_t *key, size_t keylen)
{
	uint8_t tag[MSG_HMAC_LEN];
	size_t off;
	int rc = expected_tag(buf, len, key, keylen, &off, tag);

	if (rc)
		return rc;
	memcpy(buf + off, tag, sizeof(tag));
	return 0;
}

int msg_verify(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen)
{
	uint8_t tag[MSG_HMAC_LEN];
	size_t off;
	int rc = expected_tag(buf, len, key, keylen, &off, tag);

	if (rc)
		return rc;
	return crypto_verify_32(tag, buf + off) == 0 ? 0 : -MSG_E_AUTH;
}
