// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ZAP handler (see zap.h). A ZAP request is seven frames: version
 * "1.0", request id, domain, address, identity, mechanism, and for CURVE
 * one credential, the client's 32-byte public key. The reply echoes the
 * request id with a status code; it must be sent for every request, or
 * libzmq's handshake waits forever, so even a malformed request gets a 400
 * (unless it had no request id to echo, then the REP socket still needs an
 * answer and gets an empty one).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/zap.h"

#define ZAP_FRAMES  7
#define ZAP_BATCH   16 /* requests per call, so a flood cannot starve the loop */

struct zap_key {
	char domain[ZAP_MAX_DOMAIN + 1];
	uint8_t key[ZAP_KEY_LEN];
};

struct zap {
	void *sock;
	struct ev_handle *rx;
	struct zap_key *keys;
	size_t nkeys, cap;
	struct zap_counters ctr;
};

static bool admitted(const struct zap *z, const char *domain, size_t dlen, const uint8_t *key)
{
	for (size_t i = 0; i < z->nkeys; i++)
		if (strlen(z->keys[i].domain) == dlen && !memcmp(z->keys[i].domain, domain, dlen) &&
		    !memcmp(z->keys[i].key, key, ZAP_KEY_LEN))
			return true;
	return false;
}

/* Receive one request's frames; the frames past ZAP_FRAMES are drained.
 * Returns the number of frames, or -1 when nothing was waiting. */
static int recv_request(void *s, char f[ZAP_FRAMES][256], size_t l[ZAP_FRAMES])
{
	int more = 1, n = 0;
	size_t ml = sizeof(more);

	while (more) {
		char junk[256];
		bool keep = n < ZAP_FRAMES;
		int rc = zmq_recv(s, keep ? f[n] : junk, 256, n ? 0 : ZMQ_DONTWAIT);

		if (rc < 0)
			return n ? n : -1;
		if (keep) /* zmq_recv gives a cut frame's full length: clamp it */
			l[n++] = rc > 256 ? 257 : (size_t)rc;
		if (zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml) < 0)
			break;
	}
	return n;
}

static void reply(void *s, const char *id, size_t idlen, bool ok)
{
	const char *code = ok ? "200" : "400", *text = ok ? "OK" : "refused";

	zmq_send(s, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(s, id, idlen, ZMQ_SNDMORE);
	zmq_send(s, code, 3, ZMQ_SNDMORE);
	zmq_send(s, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(s, "", 0, ZMQ_SNDMORE);
	zmq_send(s, "", 0, 0);
}

static void on_request(struct ev_loop *loop, void *arg, int what)
{
	struct zap *z = arg;
	(void)loop;
	(void)what;

	for (int i = 0; i < ZAP_BATCH; i++) {
		char f[ZAP_FRAMES][256];
		size_t l[ZAP_FRAMES] = { 0 };
		int n = recv_request(z->sock, f, l);
		bool ok = false, wellformed;

		if (n < 0)
			return;
		/* version, request id, domain, address, identity, mechanism, key */
		wellformed = n == ZAP_FRAMES && l[0] == 3 && !memcmp(f[0], "1.0", 3) &&
			     l[1] <= 255 && l[2] <= ZAP_MAX_DOMAIN;
		if (!wellformed)
			z->ctr.malformed++;
		else if (l[5] == 5 && !memcmp(f[5], "CURVE", 5) && l[6] == ZAP_KEY_LEN)
			ok = admitted(z, f[2], l[2], (const uint8_t *)f[6]);
		if (ok)
			z->ctr.admitted++;
		else
			z->ctr.refused++;
		reply(z->sock, f[1], n > 1 && l[1] <= 255 ? l[1] : 0, ok);
		if (!ok)
			log_debug("zap: refused a %s client", wellformed ? "CurveZMQ" : "malformed");
	}
}

int zap_open(struct ev_loop *loop, void *zctx, struct zap **out)
{
	struct zap *z = calloc(1, sizeof(*z));
	int rc;

	if (!z)
		return -ENOMEM;
	if (!(z->sock = zmq_socket(zctx, ZMQ_REP))) {
		rc = -errno;
		goto fail;
	}
	zmq_setsockopt(z->sock, ZMQ_LINGER, &(int){ 0 }, sizeof(int));
	if (zmq_bind(z->sock, ZAP_ENDPOINT) < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = ev_zmq_reader_add(loop, z->sock, on_request, z, &z->rx)) < 0)
		goto fail;
	*out = z;
	return 0;
fail:
	zap_close(z);
	return rc;
}

void zap_close(struct zap *z)
{
	if (!z)
		return;
	ev_cancel(&z->rx);
	if (z->sock)
		zmq_close(z->sock);
	free(z->keys);
	free(z);
}

int zap_allow(struct zap *z, const char *domain, const uint8_t key[ZAP_KEY_LEN])
{
	size_t dlen = strlen(domain);

	if (!dlen || dlen > ZAP_MAX_DOMAIN)
		return -EINVAL;
	if (admitted(z, domain, dlen, key))
		return 0;
	if (z->nkeys == z->cap) {
		size_t cap = z->cap ? 2 * z->cap : 8;
		struct zap_key *k = realloc(z->keys, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		z->keys = k;
		z->cap = cap;
	}
	memcpy(z->keys[z->nkeys].domain, domain, dlen + 1);
	memcpy(z->keys[z->nkeys].key, key, ZAP_KEY_LEN);
	z->nkeys++;
	return 0;
}

int zap_allow_z85(struct zap *z, const char *domain, const char *z85)
{
	uint8_t key[ZAP_KEY_LEN];

	if (strlen(z85) != 40 || !zmq_z85_decode(key, z85))
		return -EINVAL;
	return zap_allow(z, domain, key);
}

void zap_counters(const struct zap *z, struct zap_counters *out)
{
	*out = z->ctr;
}
