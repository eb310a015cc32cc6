// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device probes, health changes and the control socket (see pe_watch.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <jansson.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "common/key.h"
#include "common/log.h"
#include "pe_watch.h"

struct pe_watch {
	struct ev_loop *loop;
	const struct pe_config *cfg;
	const uint8_t *port_macs;      /* 6 bytes per port */
	pe_watch_change_fn *change;
	void *arg;
	uint64_t token;
	int fd[PE_MAX_INTERFACES];
	struct ev_handle *rd[PE_MAX_INTERFACES];
	int ifindex[PE_MAX_INTERFACES];
	uint32_t ifaddr[PE_MAX_INTERFACES];  /* IPv4, network order; 0: none */
	struct pe_health h[PE_MAX_DEVICES];
	bool probed[PE_MAX_DEVICES];
	char name[PE_MAX_DEVICES][PE_NAME_LEN]; /* whose health h[i] is */
	struct ev_handle *timer;
	bool active;
	void *zctx, *pub;
};

/* The device's arms as engine ports: -1 if it cannot be probed. */
static bool probe_path(const struct pe_watch *w, unsigned i, int *in, int *out,
		       const uint8_t **out_mac)
{
	const struct pe_defs *d = &w->cfg->defs;
	const struct pe_device_cfg *dev = &d->devices[i];

	if (!dev->probe || (!dev->out_interface[0] && pe_mac_zero(dev->out_mac)))
		return false; /* one arm: it does not hand packets back */
	*in = pe_defs_iface(d, dev->interface);
	*out = dev->out_interface[0] ? pe_defs_iface(d, dev->out_interface) : *in;
	*out_mac = pe_mac_zero(dev->out_mac) ? dev->mac : dev->out_mac;
	return *in >= 0 && *out >= 0 && w->ifaddr[*in] && w->ifaddr[*out] &&
	       w->fd[*in] >= 0 && w->fd[*out] >= 0;
}

/* ---- events ---------------------------------------------------------------- */

void pe_watch_event(struct pe_watch *w, const char *json)
{
	if (!w->pub)
		return;
	/* PUB never blocks: a slow subscriber loses events past its high-water mark */
	if (zmq_send(w->pub, json, strlen(json), ZMQ_DONTWAIT) < 0)
		log_debug("control: event not sent: %s", zmq_strerror(zmq_errno()));
}

static void device_event(struct pe_watch *w, unsigned i, const struct pe_defs *eff)
{
	const struct pe_defs *d = &w->cfg->defs;
	const struct pe_health *h = &w->h[i];
	int in_place = pe_defs_in_place(eff, i);
	json_t *o = json_object(), *svcs = json_array();

	if (!o || !svcs)
		goto out;
	for (unsigned s = 0; s < d->n_services; s++)
		for (unsigned c = 0; c < d->services[s].n_chain; c++)
			if (!strcmp(d->services[s].chain[c], d->devices[i].name))
				json_array_append_new(svcs, json_string(d->services[s].name));
	json_object_set_new(o, "event", json_string("device"));
	json_object_set_new(o, "instance", json_string(w->cfg->instance));
	json_object_set_new(o, "device", json_string(d->devices[i].name));
	json_object_set_new(o, "state", json_string(eff->devices[i].down ? "down" : "up"));
	json_object_set_new(o, "in-place", eff->devices[in_place].down ? json_null() :
					   json_string(d->devices[in_place].name));
	json_object_set_new(o, "services", svcs);
	svcs = NULL;
	json_object_set_new(o, "probes-sent", json_integer((json_int_t)h->sent));
	json_object_set_new(o, "probes-answered", json_integer((json_int_t)h->answered));
	json_object_set_new(o, "definitions-version", json_integer((json_int_t)d->version));
	json_object_set_new(o, "time-ms", json_integer((json_int_t)pe_real_ms()));
	char *text = json_dumps(o, JSON_COMPACT);
	if (text) {
		pe_watch_event(w, text);
		free(text);
	}
out:
	json_decref(svcs);
	json_decref(o);
}

/* Health of the devices in changed[] flipped: republish, then tell. */
static void health_changed(struct pe_watch *w, const bool *changed)
{
	const struct pe_defs *d = &w->cfg->defs;
	struct pe_defs *eff = malloc(sizeof(*eff));

	for (unsigned i = 0; i < d->n_devices; i++)
		if (changed[i])
			log_notice("device %s is %s (probes: %" PRIu64 " sent, %" PRIu64
				   " answered)", d->devices[i].name,
				   w->h[i].state == PE_HEALTH_DOWN ? "down" : "up", w->h[i].sent,
				   w->h[i].answered);
	if (w->change(w->arg) < 0 || !eff) {
		free(eff);
		return; /* the snapshot in force stays; the next change tries again */
	}
	memcpy(eff, d, sizeof(*eff));
	pe_watch_apply(w, eff);
	for (unsigned i = 0; i < d->n_devices; i++)
		if (changed[i])
			device_event(w, i, eff);
	free(eff);
}

/* ---- probes ------------------------------------------------------------------ */

static void on_tick(struct ev_loop *loop, void *arg, int what)
{
	struct pe_watch *w = arg;
	const struct pe_defs *d = &w->cfg->defs;
	bool changed[PE_MAX_DEVICES] = { false }, any = false;
	uint64_t now = pe_mono_ns();
	uint8_t frame[PE_PROBE_LEN];

	(void)loop;
	(void)what;
	if (!w->active)
		return;
	for (unsigned i = 0; i < d->n_devices; i++) {
		int in, out;
		const uint8_t *out_mac;
		struct pe_probe_id id = { .token = w->token, .device = i };

		if (!w->probed[i] || !probe_path(w, i, &in, &out, &out_mac))
			continue;
		changed[i] = pe_health_round(&w->h[i], now, w->cfg->probe_fail, &id.seq);
		any |= changed[i];
		size_t len = pe_probe_frame(frame, d->devices[i].mac, w->port_macs + 6 * in,
					    w->ifaddr[in], w->ifaddr[out], &id);
		/* a cut link fails here or loses it silently: either way no answer */
		int r = pe_watch_send(w, (unsigned)in, frame, len);
		if (r < 0)
			log_debug("probe of %s: %s", d->devices[i].name, strerror(-r));
	}
	if (any)
		health_changed(w, changed);
}

static void on_probe_rx(struct ev_loop *loop, void *arg, int what);

/* The answers arrive on interface port: match them to their rounds. */
static void receive(struct pe_watch *w, int port)
{
	const struct pe_defs *d = &w->cfg->defs;
	bool changed[PE_MAX_DEVICES] = { false }, any = false;
	uint8_t frame[256], src[6];
	struct pe_probe_id id;

	/* bounded: a flood of look-alikes cannot keep the control thread here */
	for (unsigned n = 0; n < 64; n++) {
		ssize_t len = recv(w->fd[port], frame, sizeof(frame), MSG_DONTWAIT);
		int in, out;
		const uint8_t *out_mac;

		if (len < 0)
			break;
		if (!pe_probe_parse(frame, (size_t)len, &id, src) || id.token != w->token ||
		    id.device >= d->n_devices || !w->probed[id.device] ||
		    !probe_path(w, id.device, &in, &out, &out_mac) || out != port ||
		    memcmp(src, out_mac, 6))
			continue;
		changed[id.device] = pe_health_answer(&w->h[id.device], id.seq, pe_mono_ns(),
						      pe_real_ms(), w->cfg->probe_recover);
		any |= changed[id.device];
	}
	if (any)
		health_changed(w, changed);
}

static void on_probe_rx(struct ev_loop *loop, void *arg, int what)
{
	struct pe_watch *w = arg;

	(void)loop;
	(void)what;
	for (unsigned p = 0; p < w->cfg->defs.n_interfaces; p++)
		if (w->fd[p] >= 0)
			receive(w, (int)p);
}

/* Only probes reach the socket: IPv4, not a fragment, UDP to PE_PROBE_PORT. */
static int attach_filter(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETHERTYPE_IP, 0, 8),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 6),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PE_PROBE_PORT, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = LOOM_ARRAY_SIZE(code), .filter = code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

static int open_port(struct pe_watch *w, unsigned p)
{
	const char *name = w->cfg->defs.interfaces[p].name;
	int one = 1, r;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	w->fd[p] = fd;
	w->ifindex[p] = (int)if_nametoindex(name);
	if (!w->ifindex[p])
		return -errno;
	/* the filter goes on before the socket sees any traffic: bind after it */
	if ((r = attach_filter(fd)) < 0)
		return r;
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
		return -errno;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
				   .sll_ifindex = w->ifindex[p] };
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return ev_reader_add(w->loop, fd, on_probe_rx, w, &w->rd[p]);
}

/* The engine's IPv4 address on each interface: configured, else the kernel's. */
static void find_addresses(struct pe_watch *w)
{
	const struct pe_defs *d = &w->cfg->defs;
	struct ifaddrs *ifa = NULL;

	if (getifaddrs(&ifa) < 0)
		ifa = NULL;
	for (unsigned p = 0; p < d->n_interfaces; p++) {
		const uint8_t *a = d->interfaces[p].address;
		if (key_addr_is_v4(a) && (a[12] | a[13] | a[14] | a[15])) {
			memcpy(&w->ifaddr[p], a + 12, 4);
			continue;
		}
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
			    !strcmp(i->ifa_name, d->interfaces[p].name)) {
				w->ifaddr[p] =
					((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr;
				break;
			}
	}
	freeifaddrs(ifa);
}

/* Which devices are probed, their names (to carry health over reloads). */
static void mark_probed(struct pe_watch *w)
{
	const struct pe_defs *d = &w->cfg->defs;

	for (unsigned i = 0; i < d->n_devices; i++) {
		int in, out;
		const uint8_t *m;
		w->probed[i] = w->timer && probe_path(w, i, &in, &out, &m);
		snprintf(w->name[i], sizeof(w->name[i]), "%s", d->devices[i].name);
	}
}

static int open_control(struct pe_watch *w)
{
	int linger = 0;

	if (!w->cfg->control[0])
		return 0;
	if (!(w->zctx = zmq_ctx_new()) || !(w->pub = zmq_socket(w->zctx, ZMQ_PUB)))
		return -ENOMEM;
	zmq_setsockopt(w->pub, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(w->pub, w->cfg->control) < 0)
		return log_errno(-zmq_errno(), "control socket %s", w->cfg->control);
	return 0;
}

int pe_watch_open(struct pe_watch **out, struct ev_loop *loop, const struct pe_config *cfg,
		  const uint8_t *port_macs, pe_watch_change_fn *change, void *arg)
{
	struct pe_watch *w = calloc(1, sizeof(*w));
	int r = 0;

	if (!w)
		return -ENOMEM;
	*w = (struct pe_watch){ .loop = loop, .cfg = cfg, .port_macs = port_macs,
				.change = change, .arg = arg, .active = true };
	for (unsigned p = 0; p < PE_MAX_INTERFACES; p++)
		w->fd[p] = -1;
	if (getrandom(&w->token, sizeof(w->token), 0) != sizeof(w->token))
		w->token = pe_mono_ns() ^ (uint64_t)getpid() << 32;
	if ((r = open_control(w)) < 0)
		goto fail;
	/* the sockets serve trials too (pe_watch_send): open with probes off */
	if (cfg->backend == PE_IO_AFPACKET) {
		find_addresses(w);
		for (unsigned p = 0; p < cfg->defs.n_interfaces; p++)
			if ((r = open_port(w, p)) < 0) {
				log_errno(r, "packet socket on %s", cfg->defs.interfaces[p].name);
				goto fail;
			}
		if (cfg->probe_interval_ms &&
		    (r = ev_timer_periodic_add(loop, cfg->probe_interval_ms, on_tick, w,
					       &w->timer)) < 0)
			goto fail;
	}
	mark_probed(w);
	*out = w;
	return 0;
fail:
	pe_watch_close(w);
	return r;
}

void pe_watch_close(struct pe_watch *w)
{
	if (!w)
		return;
	ev_cancel(&w->timer);
	for (unsigned p = 0; p < PE_MAX_INTERFACES; p++) {
		ev_cancel(&w->rd[p]);
		if (w->fd[p] >= 0)
			close(w->fd[p]);
	}
	if (w->pub)
		zmq_close(w->pub);
	if (w->zctx)
		zmq_ctx_term(w->zctx);
	free(w);
}

void pe_watch_apply(const struct pe_watch *w, struct pe_defs *defs)
{
	for (unsigned i = 0; i < defs->n_devices && i < PE_MAX_DEVICES; i++)
		if (w->probed[i] && w->h[i].state == PE_HEALTH_DOWN)
			defs->devices[i].down = true;
}

void pe_watch_defs_changed(struct pe_watch *w)
{
	const struct pe_defs *d = &w->cfg->defs;
	struct pe_health old[PE_MAX_DEVICES];
	char names[PE_MAX_DEVICES][PE_NAME_LEN];

	memcpy(old, w->h, sizeof(old));
	memcpy(names, w->name, sizeof(names));
	memset(w->h, 0, sizeof(w->h));
	for (unsigned i = 0; i < d->n_devices; i++)
		for (unsigned j = 0; j < PE_MAX_DEVICES; j++)
			if (names[j][0] && !strcmp(names[j], d->devices[i].name)) {
				w->h[i] = old[j];
				break;
			}
	memset(w->name, 0, sizeof(w->name));
	mark_probed(w);
}

void pe_watch_set_active(struct pe_watch *w, bool active)
{
	w->active = active;
}

const struct pe_health *pe_watch_health(const struct pe_watch *w, unsigned i)
{
	return w && i < PE_MAX_DEVICES && w->probed[i] ? &w->h[i] : NULL;
}

uint32_t pe_watch_ifaddr(const struct pe_watch *w, unsigned port)
{
	return w && port < PE_MAX_INTERFACES ? w->ifaddr[port] : 0;
}

int pe_watch_send(struct pe_watch *w, unsigned port, const uint8_t *frame, size_t len)
{
	if (!w || port >= PE_MAX_INTERFACES || w->fd[port] < 0 || len < 14)
		return -ENODEV;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = w->ifindex[port],
				   .sll_halen = 6 };
	memcpy(sll.sll_addr, frame, 6);
	if (sendto(w->fd[port], frame, len, MSG_DONTWAIT, (struct sockaddr *)&sll,
		   sizeof(sll)) < 0)
		return -errno;
	return 0;
}
