/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager's hot standby: its flow table replicated to the other
 * managers of its group (svc_ha.c has the roles; docs/svc-mgr.md "Hot
 * standby"). Control thread only.
 */
#ifndef LOOM_SVC_HA_H
#define LOOM_SVC_HA_H

struct ev_loop;
struct repl_counters;
struct svc_ha;
struct svc_mgr;
struct zap;

/*
 * Join m's replication group (m->cfg->repl): m becomes a standby until it
 * takes the active role. zap: the context's ZAP handler if one is open
 * (NULL: opened here when tcp:// needs it); secret_z85: this manager's
 * CurveZMQ secret key for tcp://. 0 or -errno.
 */
int svc_ha_open(struct svc_mgr *m, struct ev_loop *loop, void *zctx, struct zap *zap,
		const char *secret_z85, struct svc_ha **out);
void svc_ha_close(struct svc_ha *h);
void svc_ha_counters(const struct svc_ha *h, struct repl_counters *out);

#endif
