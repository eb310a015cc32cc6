/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CurveZMQ admission (ZAP, RFC 27) on the event loop: admit a CurveZMQ
 * client only if its long-term public key is on the list of the ZAP domain
 * its server socket names (ZMQ_ZAP_DOMAIN).
 *
 * libzmq asks one handler per context: whoever binds inproc://zeromq.zap.01
 * first. So a daemon opens one struct zap per ZeroMQ context and every
 * facility that serves CurveZMQ on that context adds its keys under its own
 * domain (svc-mgr's agent channel under "loom", replication under
 * "loom-repl"): a key admitted for one channel is not admitted for another.
 * Anything that is not a well-formed CURVE request for a listed key, in a
 * listed domain, is refused (400) and counted; the handler never blocks and
 * never logs above debug.
 *
 * Everything here must be called from the loop's thread.
 */
#ifndef LOOM_COMMON_ZAP_H
#define LOOM_COMMON_ZAP_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct zap;

#define ZAP_ENDPOINT    "inproc://zeromq.zap.01"
#define ZAP_KEY_LEN     32u  /* a binary CurveZMQ public key */
#define ZAP_MAX_DOMAIN  31u  /* bytes in a domain name */

/* Bind the context's ZAP endpoint and serve it on loop. -EADDRINUSE if the
 * context already has a handler; -errno otherwise. */
int zap_open(struct ev_loop *loop, void *zctx, struct zap **out);
/* Stop serving: CurveZMQ handshakes on the context then fail. NULL is a no-op. */
void zap_close(struct zap *z);

/* Admit key in domain (1..ZAP_MAX_DOMAIN bytes). Adding a key twice is
 * harmless. -EINVAL for a bad domain, -ENOMEM. */
int zap_allow(struct zap *z, const char *domain, const uint8_t key[ZAP_KEY_LEN]);
/* The same with the key in Z85 (40 characters), as configuration holds it. */
int zap_allow_z85(struct zap *z, const char *domain, const char *z85);

struct zap_counters {
	uint64_t admitted;
	uint64_t refused;   /* unknown key, unknown domain, not CURVE */
	uint64_t malformed; /* not an RFC 27 request: refused too */
};
void zap_counters(const struct zap *z, struct zap_counters *out);

#endif
