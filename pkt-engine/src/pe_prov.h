/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's end of the provisioning channel (common/provchan.h): with a
 * `provisioning:` block it binds its endpoint and takes the documents
 * loom-provisioner pushes (docs/pkt-engine.md, "Provisioning").
 *
 * A document is the engine's own definitions without the daemon's settings
 * (pe_push_schema): `devices` and `services`, key for key as in the file.
 * The interfaces are the engine's (its sockets, opened at start): a
 * document leaves them out and gets the running ones, and one that names
 * interfaces other than the running ones is refused, as a SIGHUP reload
 * refuses a file that changes them. The definitions are then checked by the
 * file's own rules (pe_defs_verify) and applied by the daemon exactly as a
 * reload applies the file: a new snapshot, or a refusal that keeps the
 * running definitions and goes back to the provisioner in the ack.
 *
 * From the first applied push on, the definitions are the provisioner's:
 * a SIGHUP still re-reads the file (and refuses one that changes the
 * interfaces) but keeps the pushed devices and services (pe_prov_keep).
 * Everything here runs on the loop's thread.
 */
#ifndef LOOM_PE_PROV_H
#define LOOM_PE_PROV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pe_config.h"

struct ev_loop;
struct pe_prov;

/*
 * Load a pushed document (len bytes, not NUL-terminated) as the definitions
 * of `version` into out, with running's interfaces. 0, or -EINVAL (-ENOMEM)
 * with the first mistake in why, as "version N:LINE:COL: key.path: reason"
 * or "version N: key.path: reason". Touches nothing else: the unit tests and
 * the fuzzer call it alone.
 */
int pe_prov_load(const struct pe_defs *running, uint64_t version, const char *doc, size_t len,
		 struct pe_defs *out, char *why, size_t whylen);

/*
 * Put defs in force as the daemon's definitions (the reload's path).
 * 0, or a negative errno with a one-line reason in why when the running
 * definitions stay.
 */
typedef int pe_prov_apply_fn(void *arg, const struct pe_defs *defs, char *why, size_t whylen);

/*
 * Bind cfg->listen (not empty) on loop, with a ZeroMQ context and a ZAP
 * handler of its own (tcp:// admits only cfg->provisioner_key). running is
 * the daemon's definitions in force: read at each push, never written.
 * 0 or a negative errno; logs nothing; nothing is left open on failure.
 */
int pe_prov_open(struct ev_loop *loop, const struct provchan_cfg *cfg,
		 const struct pe_defs *running, pe_prov_apply_fn *apply, void *arg,
		 struct pe_prov **out);
/* NULL is a no-op. */
void pe_prov_close(struct pe_prov *p);

/*
 * Trials the provisioner asks for (provchan.h): fn gets each request (a
 * value to keep until it is answered); NULL refuses them. Answer with
 * pe_prov_trial_done(): 0, or a negative errno when the asker is gone.
 */
void pe_prov_on_trial(struct pe_prov *p, provchan_trial_fn *fn, void *arg);
int pe_prov_trial_done(struct pe_prov *p, const struct provchan_trial *t, bool ok,
		       const char *report);

/* Put the last applied push's devices, services and version into defs;
 * nothing before the first (or with p NULL). */
void pe_prov_keep(const struct pe_prov *p, struct pe_defs *defs);

#endif
