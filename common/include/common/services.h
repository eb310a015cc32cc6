/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A service manager's services as it publishes them for display.
 *
 * loom-svc-mgr writes loom.<instance>.services, a shm snapshot (shm/snap.h)
 * rebuilt every second and at every change of its model: each service with
 * its figures and each backend with its weight, health and connection
 * counts. loomctl and the web UI read it; nothing else depends on it (the
 * flow table, common/flow.h, is the state that matters).
 *
 * Layout: struct svcs_hdr, then nsvc struct svcs_service, then nbackend
 * struct svcs_backend (a service's backends are the nb entries from its
 * `first`). Readers validate every count and index (svcs_view()).
 */
#ifndef LOOM_COMMON_SERVICES_H
#define LOOM_COMMON_SERVICES_H

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define SVCS_KIND    0x53564353u /* "SVCS" */
#define SVCS_VERSION 1u
#define SVCS_MAGIC   0x53455256u /* "SERV" */

#define SVCS_MAX_SERVICES 128u
#define SVCS_MAX_BACKENDS (SVCS_MAX_SERVICES * 64u)

struct svcs_hdr {
	uint32_t magic;
	uint32_t nsvc;
	uint32_t nbackend;
	uint32_t agents;         /* agents connected */
	uint64_t built_ms;       /* CLOCK_MONOTONIC */
	uint64_t flows;          /* flows in the table */
	uint64_t flow_capacity;
	uint64_t owner;          /* the manager's instance id */
};
static_assert(sizeof(struct svcs_hdr) == 48, "svcs_hdr is an shm layout");

struct svcs_service {
	char name[32];           /* NUL-terminated */
	uint32_t id;
	uint8_t type;            /* 0 lb, 1 nat, 2 observe */
	uint8_t proto;           /* 0 any */
	uint8_t algorithm;       /* 0 rr, 1 wrr, 2 wlc, 3 maglev */
	uint8_t active;          /* 0: being withdrawn */
	uint8_t addr[16];        /* virtual address (lb, observe) */
	uint16_t port;           /* host order; 0 every port */
	uint16_t nb;
	uint32_t first;          /* index of its first backend */
	uint32_t precedence;
	uint32_t backup_precedence;
	uint8_t precedence_lower; /* 1: lower values are better */
	uint8_t pad[3];
	uint32_t pool_addresses; /* nat */
	uint64_t persistence_ms;
	uint64_t decided, answered, dropped, active_flows;
	uint64_t pool_mappings;  /* nat */
	uint64_t pool_fail;
};
static_assert(sizeof(struct svcs_service) == 136, "svcs_service is an shm layout");

struct svcs_backend {
	uint32_t svc_id;
	uint32_t id;
	uint8_t addr[16];
	uint16_t port;           /* host order */
	uint8_t up;
	uint8_t checked;         /* has a health check */
	uint32_t weight;
	uint32_t conns;          /* active connections (the scheduler's count) */
	uint32_t last_check_ms_ago; /* UINT32_MAX: never */
	uint64_t decided;        /* new flows sent here */
	uint64_t checks, checks_failed;
	char last_error[96];     /* of the last failed check, NUL-terminated */
};
static_assert(sizeof(struct svcs_backend) == 160, "svcs_backend is an shm layout");

struct svcs_view {
	const struct svcs_hdr *hdr;
	const struct svcs_service *svc;
	const struct svcs_backend *backend;
};

static inline size_t svcs_size(uint32_t nsvc, uint32_t nbackend)
{
	return sizeof(struct svcs_hdr) + (size_t)nsvc * sizeof(struct svcs_service) +
	       (size_t)nbackend * sizeof(struct svcs_backend);
}

/* Check a published snapshot (another process wrote it). 0 or -EPROTO. */
static inline int svcs_view(const void *p, size_t len, struct svcs_view *v)
{
	const struct svcs_hdr *h = p;

	if (!p || len < sizeof(*h) || h->magic != SVCS_MAGIC || h->nsvc > SVCS_MAX_SERVICES ||
	    h->nbackend > SVCS_MAX_BACKENDS || len < svcs_size(h->nsvc, h->nbackend))
		return -EPROTO;
	v->hdr = h;
	v->svc = (const struct svcs_service *)(h + 1);
	v->backend = (const struct svcs_backend *)(v->svc + h->nsvc);
	for (uint32_t i = 0; i < h->nsvc; i++)
		if (v->svc[i].first > h->nbackend || v->svc[i].nb > h->nbackend - v->svc[i].first)
			return -EPROTO;
	return 0;
}

#endif
