/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Setting up ZeroMQ sockets the way every channel of the project does:
 * options with errors as -errno, and CurveZMQ on tcp:// endpoints (ipc://
 * relies on the socket file's permissions instead). The server side names
 * the ZAP domain whose keys it admits (common/zap.h).
 */
#ifndef LOOM_COMMON_ZSOCK_H
#define LOOM_COMMON_ZSOCK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <zmq.h>

#include "common/cfg.h" /* CFG_Z85_LEN: a key in Z85, as configuration holds it */

static inline int zsock_set(void *s, int opt, const void *v, size_t len)
{
	return zmq_setsockopt(s, opt, v, len) < 0 ? -errno : 0;
}

static inline int zsock_set_int(void *s, int opt, int v)
{
	return zsock_set(s, opt, &v, sizeof(v));
}

/* CurveZMQ is used on exactly these endpoints. */
static inline bool zsock_is_tcp(const char *endpoint)
{
	return strncmp(endpoint, "tcp://", 6) == 0;
}

/* A CurveZMQ server with its secret key, admitting the keys of zap_domain. */
static inline int zsock_curve_server(void *s, const char *secret_z85, const char *zap_domain)
{
	int rc;

	if ((rc = zsock_set_int(s, ZMQ_CURVE_SERVER, 1)) < 0 ||
	    (rc = zsock_set(s, ZMQ_CURVE_SECRETKEY, secret_z85, CFG_Z85_LEN)) < 0 ||
	    (rc = zsock_set(s, ZMQ_ZAP_DOMAIN, zap_domain, strlen(zap_domain))) < 0)
		return rc;
	return 0;
}

/* A CurveZMQ client of the server whose public key is server_z85. */
static inline int zsock_curve_client(void *s, const char *server_z85, const char *public_z85,
				     const char *secret_z85)
{
	int rc;

	if ((rc = zsock_set(s, ZMQ_CURVE_SERVERKEY, server_z85, CFG_Z85_LEN)) < 0 ||
	    (rc = zsock_set(s, ZMQ_CURVE_PUBLICKEY, public_z85, CFG_Z85_LEN)) < 0 ||
	    (rc = zsock_set(s, ZMQ_CURVE_SECRETKEY, secret_z85, CFG_Z85_LEN)) < 0)
		return rc;
	return 0;
}

#endif
