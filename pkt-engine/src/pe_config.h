/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loom-pkt-engine's configuration and definitions (docs/pkt-engine.md).
 *
 * Two parts in one file: how the daemon runs (instance, packet back end,
 * workers, files) and the definitions it steers by (struct pe_defs:
 * interfaces, devices, services). The definitions are the one internal
 * model: the YAML file fills it, and so does a provisioner's push (the
 * same rows, pe_push_schema; pe_prov.h); pe_defs_build() turns it into a
 * sequence snapshot either way.
 */
#ifndef LOOM_PE_CONFIG_H
#define LOOM_PE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "common/cfg.h"
#include "common/provchan.h"
#include "common/sequence.h"

#define PE_MAX_INTERFACES 16 /* == SEQ_MAX_PORTS */
#define PE_MAX_DEVICES    64
#define PE_MAX_SERVICES   64
#define PE_MAX_PORTS      8  /* per service */
#define PE_MAX_CHAIN      8  /* devices per service, the server last */
#define PE_MAX_COPIES     4  /* per service */
#define PE_MAX_ACL        16 /* rules per service */
#define PE_NAME_LEN       SEQ_NAME_LEN
#define PE_PATH_MAX       256
/* statistics slots: a port and its dynamic range */
#define PE_MAX_STATS      (PE_MAX_SERVICES * PE_MAX_PORTS * 2)

enum pe_backend { PE_IO_AFPACKET, PE_IO_PCAP };
enum pe_ha_role { PE_HA_PRIMARY, PE_HA_SECONDARY };
enum pe_role { PE_ROLE_CLIENT, PE_ROLE_DEVICE };

/* A port range "80", "1025-1125", "any" (0-65535) or "none" (0-0). */
struct pe_range {
	uint16_t lo, hi;
};

struct pe_iface_cfg {
	char name[16];
	unsigned role;              /* enum pe_role: clients arrive here, or devices sit here */
	char segment[PE_NAME_LEN];  /* free text: which LAN or VLAN */
	uint8_t address[16];        /* the engine's address there (informational for now) */
	uint8_t mac[6];             /* pcap: the port's own MAC (afpacket: the kernel's) */
	uint8_t gateway_mac[6];     /* client role: the router replies go to */
	char pcap_in[PE_PATH_MAX];
	char pcap_out[PE_PATH_MAX];
	bool csum_partial;          /* pcap: present input as checksum-partial */
	uint8_t prefix;             /* of address: what a secondary claims at takeover */
};

struct pe_device_cfg {
	char name[PE_NAME_LEN];
	char function[PE_NAME_LEN]; /* its pool: firewall, ids, server, ... */
	uint8_t mac[6];             /* the arm facing the client side */
	uint8_t address[16];        /* NAT mode: where the engine rewrites to */
	unsigned mode;              /* enum seq_mode, without route */
	char interface[16];         /* engine interface the mac is reached on */
	char out_interface[16];     /* a second arm (server side); "" : the same */
	uint8_t out_mac[6];         /* its MAC; 00:..:00: the same as mac */
	char alternate[PE_NAME_LEN];/* takes this one's place in chains while it is down */
	bool down;                  /* failed (configured, or by probes): an alternate
				     * takes its place, or steps to it drop */
	bool probe;                 /* probe it (two-armed devices only) */
};

struct pe_port_cfg {
	uint16_t port;
	uint16_t translate;         /* the port the server listens on; 0: none */
	struct pe_range dynamic;    /* ports the server may negotiate; none: 0-0 */
};

struct pe_copy_cfg {
	char receiver[PE_NAME_LEN]; /* a device that gets copies (IDS, recorder) */
	char at[PE_NAME_LEN];       /* of what goes to / comes from this chain device */
};

struct pe_acl_cfg {
	unsigned action;            /* enum seq_acl_action */
	struct cfg_prefix client;
	unsigned protocol;          /* index into the protocol names: any, tcp, udp */
	struct pe_range ports;
};

struct pe_service_cfg {
	char name[PE_NAME_LEN];
	uint8_t address[16];        /* the service IP */
	unsigned protocol;          /* tcp, udp */
	char interface[16];         /* where its clients arrive */
	struct pe_port_cfg ports[PE_MAX_PORTS];
	unsigned n_ports;
	char chain[PE_MAX_CHAIN][PE_NAME_LEN];
	unsigned n_chain;
	struct pe_copy_cfg copies[PE_MAX_COPIES];
	unsigned n_copies;
	unsigned acl_default;       /* enum seq_acl_action */
	struct pe_acl_cfg acl[PE_MAX_ACL];
	unsigned n_acl;
	int8_t dscp;                /* -1: leave the packets' DSCP alone */
};

struct pe_defs {
	uint64_t version;
	struct pe_iface_cfg interfaces[PE_MAX_INTERFACES];
	unsigned n_interfaces;
	struct pe_device_cfg devices[PE_MAX_DEVICES];
	unsigned n_devices;
	struct pe_service_cfg services[PE_MAX_SERVICES];
	unsigned n_services;
};

struct pe_config {
	char instance[32];
	unsigned log_level;         /* enum log_level */
	unsigned backend;           /* enum pe_backend */
	uint16_t workers;           /* 0: one per core */
	uint32_t ring_frames;
	uint16_t fanout_id;
	uint16_t reader_slots;
	uint32_t copy_room;         /* bytes of copies per worker burst; beyond: shed */
	bool pcap_real_time;        /* pcap: honour the capture's gaps (tests of reloads) */
	char user[32];
	char stats_file[PE_PATH_MAX];
	char metrics[64];            /* Prometheus endpoint, "host:port" ("": none) */
	bool ingress_filter;         /* afpacket: keep the kernel off transit packets */
	bool exit_on_eof;
	uint32_t probe_interval_ms; /* 0: no probes */
	uint32_t probe_fail;        /* unanswered in a row: down */
	uint32_t probe_recover;     /* answered in a row: up again */
	char control[PE_PATH_MAX];  /* ZeroMQ PUB endpoint of events ("": none) */
	unsigned role;              /* enum pe_ha_role */
	char primary_control[PE_PATH_MAX]; /* secondary: the primary's control socket */
	uint32_t heartbeat_ms;      /* heartbeats on the control socket (0: none) */
	uint32_t takeover_ms;       /* secondary: silence before it takes over */
	struct provchan_cfg prov;   /* `provisioning:` (listen "": not provisioned) */
	uint32_t trial_timeout_ms;  /* a trial without an answer by then fails */
	struct pe_defs defs;
};

extern const struct cfg_schema pe_config_schema;
/*
 * A provisioner's push: `interfaces` (optional), `devices`, `services`,
 * loaded into a struct pe_defs. Only the shape is checked: fill in the
 * interfaces, then pe_defs_verify().
 */
extern const struct cfg_schema pe_push_schema;

/* CLOCK_REALTIME in ms (what events and the snapshot are stamped with). */
static inline uint64_t pe_real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* CLOCK_MONOTONIC in ns (round trips). */
static inline uint64_t pe_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline bool pe_mac_zero(const uint8_t m[6])
{
	static const uint8_t z[6];

	return !memcmp(m, z, 6);
}

/* Does a name the same interfaces as b? (They are open sockets or files:
 * the definitions in force may change, the interfaces only by a restart.) */
bool pe_defs_same_interfaces(const struct pe_defs *a, const struct pe_defs *b);

/* Index of the interface named name in d, or -1. */
int pe_defs_iface(const struct pe_defs *d, const char *name);

/* Protocol numbers of the `protocol` names (index -> IPPROTO_*). */
uint8_t pe_proto_number(unsigned idx);

/*
 * The device that stands in for device di (an index into d->devices): di
 * itself while it is up, else the first of its alternates (followed in
 * turn) that is up, else di (whose steps then drop as device_down).
 */
int pe_defs_in_place(const struct pe_defs *d, unsigned di);

/*
 * Build the sequence snapshot of defs (already verified by the schema).
 * Each mistake found on the way (ambiguous keys) is reported through err
 * (where: a key path like "services[2].ports[0]"), if not NULL. Returns the
 * builder (the caller frees it) or NULL with *rc = -EINVAL / -ENOMEM.
 */
typedef void pe_build_err_fn(void *arg, const char *where, const char *msg);
struct seq_builder *pe_defs_build(const struct pe_defs *defs, pe_build_err_fn *err, void *arg,
				  int *rc);

/*
 * The rules of the definitions that span objects (references, the nat
 * server last, ports, names) and the steps they build, as the file's
 * loader checks them; each mistake goes to err (may be NULL). 0, or -EINVAL.
 */
int pe_defs_verify(const struct pe_defs *d, pe_build_err_fn *err, void *arg);

#endif
