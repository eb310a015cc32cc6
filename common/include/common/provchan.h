/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The provisioning channel (provchan_): how loom-provisioner's definitions
 * reach the daemons (ARCHITECTURE.md section 3, docs/protocol.md).
 *
 * A daemon binds a ROUTER (the server side); the provisioner connects one
 * DEALER per daemon it provisions (the client side). The provisioner pushes
 * versioned documents: a prov-push message whose prov-doc segment carries
 * the version, the kind of daemon, the size and the SHA-256 of the
 * document, followed by the document itself as a second frame. The daemon
 * hands the document to its apply callback, which applies it whole or
 * refuses it with a reason (the running definitions stay), and answers a
 * prov-ack: the version, ok or not, the reason, and the version it runs.
 *
 * The client never loses a committed change: a target whose daemon has not
 * acknowledged the newest version is pushed again on every retry tick and
 * as soon as its connection (re)completes its handshake; a target that is
 * in step is asked which version it runs (prov-query) on every tick, so a
 * daemon that restarted (and runs nothing) is pushed to again. A version
 * the daemon refused is not pushed again: only a newer one is. The client
 * keeps no state on disk: its owner stores what the ack callback reports
 * and seeds each target with it (provchan_client_add's acked).
 *
 * tcp:// endpoints use CurveZMQ: the server admits only the provisioner's
 * public key, under the ZAP domain "loom-prov" of the context's handler
 * (zap.h); ipc:// endpoints rely on filesystem permissions.
 *
 * Everything here runs on the loop's thread; nothing logs above debug.
 */
#ifndef LOOM_COMMON_PROVCHAN_H
#define LOOM_COMMON_PROVCHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"
#include "common/msg_wire.h"

struct ev_loop;
struct zap;

#define PROVCHAN_ZAP_DOMAIN "loom-prov"
#define PROVCHAN_MAX_TARGETS 64

/* ---- Daemon side ------------------------------------------------------------- */

/* A daemon's `provisioning:` block. listen "" : not provisioned. */
struct provchan_cfg {
	char listen[128];                        /* ipc:///path or tcp://addr:port */
	char secret_key_file[256];               /* tcp: this daemon's CurveZMQ secret key */
	char provisioner_key[CFG_Z85_LEN + 1];   /* tcp: the one client admitted */
};

/* For a CFG_MAP row of the daemon's schema (docs/config.md). */
extern const struct cfg_schema provchan_cfg_schema;

/*
 * Apply a pushed document (len bytes, not NUL-terminated) as the daemon's
 * definitions at `version`, whole or not at all. Returns 0, or a negative
 * errno with a one-line reason in why (it goes back in the ack) when the
 * running definitions stay.
 */
typedef int provchan_apply_fn(void *arg, uint64_t version, const char *doc, size_t len,
			      char *why, size_t whylen);

struct provchan_server;

/*
 * Bind cfg->listen and serve pushes for documents of kind target
 * (MSG_PROV_TARGET_*) on loop. A tcp:// endpoint needs zap (the context's
 * handler) and reads the secret key file now. 0 or -errno; nothing is left
 * open on failure.
 */
int provchan_server_open(struct ev_loop *loop, void *zctx, struct zap *zap,
			 const struct provchan_cfg *cfg, unsigned target,
			 provchan_apply_fn *apply, void *arg, struct provchan_server **out);
/* NULL is a no-op. */
void provchan_server_close(struct provchan_server *s);
/* The version applied last (0: none since it opened). */
uint64_t provchan_server_applied(const struct provchan_server *s);

/*
 * Trials (prov-trial, engines only): the provisioner asks the daemon to
 * validate a service by a handshake through its chain. The request is a
 * value the daemon keeps (it names the asking peer); the answer goes back
 * whenever the trial ends, through provchan_server_trial_done().
 */
struct provchan_trial {
	uint8_t peer[256];                       /* ZeroMQ routing id of the asker */
	size_t peer_len;
	uint64_t id;                             /* the provisioner's number */
	char service[MSG_MAX_NAME + 1];
	uint16_t port;                           /* 0: the service's first */
};
typedef void provchan_trial_fn(void *arg, const struct provchan_trial *t);
/* Take prov-trial requests from now on (fn NULL: refuse them, the default). */
void provchan_server_on_trial(struct provchan_server *s, provchan_trial_fn *fn, void *arg);
/*
 * Answer trial t: ok and a report (JSON text, NUL-terminated, at most
 * MSG_MAX_PROV_DOC bytes). 0 or -errno (the asker is gone: nothing queued).
 */
int provchan_server_trial_done(struct provchan_server *s, const struct provchan_trial *t,
			       bool ok, const char *report);

/* ---- Provisioner side ---------------------------------------------------------- */

struct provchan_target {
	char name[64];                           /* for the owner's records */
	char endpoint[128];
	unsigned kind;                           /* MSG_PROV_TARGET_* */
	char server_key[CFG_Z85_LEN + 1];        /* tcp: the daemon's public key */
};

/*
 * The document of `version` for target idx, in a malloc'd buffer the
 * client frees. 0 or -errno (the push is tried again on the next tick).
 */
typedef int provchan_render_fn(void *arg, unsigned idx, uint64_t version, char **doc,
			       size_t *len);
/*
 * A target answered: it runs `applied`; for a push, version is the pushed
 * one and ok whether it was applied (text: why not), for a query version 0.
 */
typedef void provchan_ack_fn(void *arg, unsigned idx, uint64_t version, bool ok,
			     uint64_t applied, const char *text);
/*
 * Target idx answered trial id: ok, and its report (len bytes of JSON, not
 * NUL-terminated; checked against the result's size and digest already).
 */
typedef void provchan_result_fn(void *arg, unsigned idx, uint64_t id, bool ok,
				const char *report, size_t len);

struct provchan_client_cfg {
	void *zctx;
	char public_key[CFG_Z85_LEN + 1];        /* tcp: the provisioner's key pair */
	char secret_key[CFG_Z85_LEN + 1];
	uint64_t retry_ms;                       /* resend / query period */
	provchan_render_fn *render;
	provchan_ack_fn *ack;
	provchan_result_fn *result;              /* NULL: trial results are dropped */
	void *arg;
};

struct provchan_client;

int provchan_client_open(struct ev_loop *loop, const struct provchan_client_cfg *cfg,
			 struct provchan_client **out);
void provchan_client_close(struct provchan_client *c);
/*
 * Connect a DEALER to t; acked is the version its daemon was last known to
 * run (the owner's record; 0 for none). *idx numbers it for the callbacks.
 */
int provchan_client_add(struct provchan_client *c, const struct provchan_target *t,
			uint64_t acked, unsigned *idx);
/* The newest committed version: push it to every target not running it. */
void provchan_client_latest(struct provchan_client *c, uint64_t version);

/*
 * Ask target idx (an engine) for trial id of service (port 0: its first).
 * The answer comes to cfg->result. -ENOTCONN when the target is not
 * connected (nothing is queued for it), -EINVAL for a bad name or index.
 */
int provchan_client_trial(struct provchan_client *c, unsigned idx, uint64_t id,
			  const char *service, uint16_t port);

struct provchan_status {
	uint64_t applied;                        /* last reported (or seeded) */
	uint64_t refused;                        /* last refused version, 0 none */
	char why[MSG_MAX_TEXT + 1];
	uint64_t pushes, acks;                   /* counters */
};
void provchan_client_status(const struct provchan_client *c, unsigned idx,
			    struct provchan_status *out);

#endif
