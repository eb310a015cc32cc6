// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The AF_PACKET back end on real veths.
 *
 * Lab per test, uniquely named and removed on success and on failure:
 *
 *   ns A: va 10.9.0.1/24 ── veth ── fa ┐ ns F: pktio on fa (port 0) and
 *   ns B: vb 10.9.0.2/24 ── veth ── fb ┘       fb (port 1), 2 queues
 *
 * The test process enters F and runs one worker thread per queue that
 * bridges every frame to the other port, unchanged, metadata included. A
 * and B are on one subnet, so ARP and everything else crosses the bridge:
 * a TCP transfer from A to B completes only if GSO super-packets and
 * partial checksums survive the round trip through userspace.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/key.h"
#include "common/pkt.h"
#include "common/pktio.h"

static char ns_a[32], ns_f[32], ns_b[32];
static char if_a[16], if_fa[16], if_fb[16], if_b[16];
static char tmpdir[64];
static bool lab_up;

static int sh(const char *fmt, ...) LOOM_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void lab_down(void)
{
	/* Background helpers end by their own timeouts; their pids are
	 * recorded so a failing test does not leave them running. */
	sh("for p in %s/*.pid; do [ -f \"$p\" ] && kill $(cat \"$p\") 2>/dev/null; done; true",
	   tmpdir);
	sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; "
	   "ip netns del %s 2>/dev/null; true", ns_a, ns_f, ns_b);
	sh("rm -rf %s", tmpdir);
	lab_up = false;
}

static void lab_setup(void)
{
	unsigned id = (unsigned)getpid() % 100000;
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root for network namespaces");
	snprintf(ns_a, sizeof(ns_a), "lpk%u-a", id);
	snprintf(ns_f, sizeof(ns_f), "lpk%u-f", id);
	snprintf(ns_b, sizeof(ns_b), "lpk%u-b", id);
	snprintf(if_a, sizeof(if_a), "lpa%u", id);
	snprintf(if_fa, sizeof(if_fa), "lpfa%u", id);
	snprintf(if_fb, sizeof(if_fb), "lpfb%u", id);
	snprintf(if_b, sizeof(if_b), "lpb%u", id);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/loom-pktio-af-%u", id);
	lab_up = true;
	cr_assert_eq(sh("mkdir -p %s", tmpdir), 0);
	cr_assert_eq(sh("set -e; ip netns add %s; ip netns add %s; ip netns add %s; "
			"ip link add %s netns %s type veth peer name %s netns %s; "
			"ip link add %s netns %s type veth peer name %s netns %s; "
			"for n in %s %s %s; do ip netns exec $n sysctl -qw "
			"net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; "
			"ip -n $n link set lo up; done; "
			"ip -n %s addr add 10.9.0.1/24 dev %s; ip -n %s link set %s up; "
			"ip -n %s addr add 10.9.0.2/24 dev %s; ip -n %s link set %s up; "
			"ip -n %s link set %s up; ip -n %s link set %s up",
			ns_a, ns_f, ns_b,
			if_a, ns_a, if_fa, ns_f,
			if_b, ns_b, if_fb, ns_f,
			ns_a, ns_f, ns_b,
			ns_a, if_a, ns_a, if_a,
			ns_b, if_b, ns_b, if_b,
			ns_f, if_fa, ns_f, if_fb), 0, "building the lab");
	/* Enter F for good: sockets are created in the caller's namespace. */
	char path[64];

	snprintf(path, sizeof(path), "/run/netns/%s", ns_f);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns: %s", strerror(errno));
	close(fd);
}

static void lab_teardown(void)
{
	if (lab_up)
		lab_down();
}

TestSuite(afpacket, .init = lab_setup, .fini = lab_teardown, .timeout = 120);

/* --- the bridge -------------------------------------------------------- */

#define MAX_FLOWS 256

struct flow_seen {
	struct flow_key k; /* canonical: lower (addr, port) first */
	unsigned qmask;
};

struct bridge {
	struct pktio *io;
	pthread_t th[2];
	volatile bool stop;
	pthread_mutex_t lock;
	struct flow_seen flows[MAX_FLOWS];
	unsigned n_flows;
	uint32_t max_len;
};

struct worker_arg {
	struct bridge *br;
	unsigned q;
};

static void canon(struct flow_key *k)
{
	int c = memcmp(k->saddr, k->daddr, 16);

	if (c > 0 || (c == 0 && k->sport > k->dport)) {
		uint8_t a[16];
		uint16_t p = k->sport;

		memcpy(a, k->saddr, 16);
		memcpy(k->saddr, k->daddr, 16);
		memcpy(k->daddr, a, 16);
		k->sport = k->dport;
		k->dport = p;
	}
}

static void note_flow(struct bridge *br, unsigned q, const struct pktio_pkt *p)
{
	struct pkt_view v;
	struct flow_key k;
	unsigned i;

	if (pktio_pkt_parse(p, &v) < 0 || v.family != PKT_IPV4 || !(v.flags & PKT_F_L4))
		return;
	memset(&k, 0, sizeof(k));
	if (pkt_key(&v, p->data, &k) < 0)
		return;
	canon(&k);
	pthread_mutex_lock(&br->lock);
	if (p->len > br->max_len)
		br->max_len = p->len;
	for (i = 0; i < br->n_flows; i++)
		if (!memcmp(&br->flows[i].k, &k, sizeof(k)))
			break;
	if (i == br->n_flows && i < MAX_FLOWS) {
		br->flows[i].k = k;
		br->n_flows++;
	}
	if (i < MAX_FLOWS)
		br->flows[i].qmask |= 1u << q;
	pthread_mutex_unlock(&br->lock);
}

static void *worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct bridge *br = wa->br;
	struct pktio_pkt pkts[64];

	while (!br->stop) {
		int n = pktio_rx_burst(br->io, wa->q, pkts, 64);

		if (n <= 0) {
			pktio_wait(br->io, wa->q, 20);
			continue;
		}
		for (int i = 0; i < n; i++) {
			note_flow(br, wa->q, &pkts[i]);
			pkts[i].port ^= 1;
		}
		pktio_tx_burst(br->io, wa->q, pkts, (unsigned)n);
		pktio_rx_release(br->io, wa->q);
	}
	return NULL;
}

static struct worker_arg wargs[2];

static void cfg_lab(struct pktio_cfg *cfg, unsigned n_ports)
{
	pktio_cfg_init(cfg, "afpacket");
	cfg->n_queues = 2;
	cfg->n_ports = n_ports;
	cfg->ports[0].ifname = if_fa;
	cfg->ports[1].ifname = if_fb;
	cfg->rx_frames = 128;
	cfg->tx_frames = 128;
	cfg->fanout_id = (uint16_t)(0x1000 + getpid() % 0x1000);
}

static void bridge_start(struct bridge *br)
{
	struct pktio_cfg cfg;
	int rc;

	memset(br, 0, sizeof(*br));
	pthread_mutex_init(&br->lock, NULL);
	cfg_lab(&cfg, 2);
	rc = pktio_open(&cfg, &br->io);
	cr_assert_eq(rc, 0, "pktio_open: %s", strerror(-rc));
	for (unsigned q = 0; q < 2; q++) {
		wargs[q] = (struct worker_arg){ br, q };
		cr_assert_eq(pthread_create(&br->th[q], NULL, worker, &wargs[q]), 0);
	}
}

static void bridge_stop(struct bridge *br, struct pktio_stats *st)
{
	br->stop = true;
	for (unsigned q = 0; q < 2; q++)
		pthread_join(br->th[q], NULL);
	pktio_stats(br->io, -1u, st);
	for (unsigned s = 0; s < PKTIO__ST_MAX; s++)
		cr_log_info("%s %lu", pktio_stat_name(s), (unsigned long)st->v[s]);
	pktio_close(br->io);
	br->io = NULL;
}

/* Run a helper in a namespace in the background, bounded by timeout(1). */
static void bg(const char *ns, const char *name, unsigned secs, const char *args)
{
	cr_assert_eq(sh("ip netns exec %s timeout %u /usr/bin/python3 %s %s > %s/%s.out 2>&1 & "
			"echo $! > %s/%s.pid", ns, secs, TRAFFIC_PY, args, tmpdir, name,
			tmpdir, name), 0);
}

/* Wait (bounded) for a helper's output line; returns it in buf. */
static bool wait_output(const char *name, char *buf, size_t size, unsigned ms)
{
	char path[128];
	uint64_t end = mono_ms() + ms;

	snprintf(path, sizeof(path), "%s/%s.out", tmpdir, name);
	while (mono_ms() < end) {
		FILE *f = fopen(path, "r");

		if (f) {
			bool ok = fgets(buf, (int)size, f) != NULL && strchr(buf, '\n');

			fclose(f);
			if (ok)
				return true;
		}
		usleep(50000);
	}
	return false;
}

/* --- tests ---------------------------------------------------------------- */

Test(afpacket, udp_flows_stick_to_one_queue_both_ways)
{
	struct bridge br;
	struct pktio_stats st;
	unsigned both = 0, q0 = 0, q1 = 0;
	char ready[16];
	int rc;

	bridge_start(&br);
	bg(ns_b, "udp-server", 15, "udp-server 10.9.0.2 5000 32 12");
	/* a Python start-up on a busy machine can take longer than any pause */
	cr_assert(wait_output("udp-server", ready, sizeof(ready), 10000), "the echo server is bound");
	rc = sh("ip netns exec %s timeout 20 /usr/bin/python3 %s udp-client 10.9.0.2 5000 32 10",
		ns_a, TRAFFIC_PY);
	bridge_stop(&br, &st);
	cr_assert_eq(rc, 0, "at least 90 %% of the echoes came back through the bridge");
	cr_assert_geq(br.n_flows, 32, "saw %u flows", br.n_flows);
	for (unsigned i = 0; i < br.n_flows; i++) {
		/* Requests arrive on port 0, echoes on port 1: one queue each. */
		if (br.flows[i].qmask == 3)
			both++;
		q0 += br.flows[i].qmask == 1;
		q1 += br.flows[i].qmask == 2;
	}
	cr_assert_eq(both, 0, "%u flows were split across queues", both);
	cr_assert(q0 > 0 && q1 > 0, "the hash spreads flows: %u on q0, %u on q1", q0, q1);
	cr_assert_gt(st.v[PKTIO_ST_RX_CSUM_PARTIAL], 0, "veth hands over partial checksums");
	cr_assert_eq(st.v[PKTIO_ST_RX_TRUNC], 0);
	cr_assert_eq(st.v[PKTIO_ST_TX_RING_FULL] + st.v[PKTIO_ST_TX_ERRORS], 0);
}

Test(afpacket, tcp_bulk_gso_survives_the_bridge)
{
	const unsigned long bytes = 64ul << 20;
	char srv[256], cli[256], hash_s[80], hash_c[80];
	unsigned long n_s = 0, n_c = 0;
	double secs = 0;
	struct bridge br;
	struct pktio_stats st;
	FILE *f;
	int rc;

	bridge_start(&br);
	bg(ns_b, "tcp-server", 60, "tcp-server 10.9.0.2 6000");
	usleep(300000);
	snprintf(cli, sizeof(cli), "ip netns exec %s timeout 60 /usr/bin/python3 %s "
		 "tcp-client 10.9.0.2 6000 %lu", ns_a, TRAFFIC_PY, bytes);
	f = popen(cli, "r");
	cr_assert_not_null(f);
	rc = fscanf(f, "%lu %79s %lf", &n_c, hash_c, &secs);
	pclose(f);
	cr_assert(wait_output("tcp-server", srv, sizeof(srv), 10000), "server finished");
	bridge_stop(&br, &st);
	cr_assert_eq(rc, 3, "client completed");
	cr_assert_eq(sscanf(srv, "%lu %79s", &n_s, hash_s), 2, "server said: %s", srv);
	cr_assert_eq(n_s, bytes, "received %lu of %lu bytes", n_s, bytes);
	cr_assert_str_eq(hash_s, hash_c, "content intact");
	cr_assert_gt(st.v[PKTIO_ST_RX_GSO], 0, "GSO super-packets arrived");
	cr_assert_gt(br.max_len, 9000, "largest frame %u: super-packets arrive whole",
		     br.max_len);
	cr_assert_gt(st.v[PKTIO_ST_RX_CSUM_PARTIAL], 0);
	/* super-packets leave by sendmsg from their RX frame, not the ring */
	cr_assert_gt(st.v[PKTIO_ST_TX_DIRECT], 0, "super-packets sent directly");
	cr_assert_lt(st.v[PKTIO_ST_TX_DIRECT], st.v[PKTIO_ST_TX_PKTS],
		     "small packets (ACKs) still use the TX ring");
	cr_assert_eq(st.v[PKTIO_ST_TX_RING_FULL] + st.v[PKTIO_ST_TX_ERRORS], 0);
	cr_assert_eq(st.v[PKTIO_ST_RX_TRUNC], 0);
	cr_assert_eq(st.v[PKTIO_ST_RX_BAD_META], 0);
	fprintf(stderr, "pktio bridge: TCP %lu MiB in %.3f s = %.2f Gbit/s, %lu frames, "
		"%lu GSO, largest %u bytes\n", bytes >> 20, secs,
		secs > 0 ? bytes * 8 / secs / 1e9 : 0.0, (unsigned long)st.v[PKTIO_ST_RX_PKTS],
		(unsigned long)st.v[PKTIO_ST_RX_GSO], br.max_len);
}

Test(afpacket, second_process_joins_same_fanout_group)
{
	struct pktio_cfg cfg;
	struct pktio *io1, *io2, *io3;
	int rc;

	cfg_lab(&cfg, 2);
	cfg.rx_frames = cfg.tx_frames = 16;
	rc = pktio_open(&cfg, &io1);
	cr_assert_eq(rc, 0, "first: %s", strerror(-rc));
	/* An upgrade restart: same id, same type and flags, while the old one
	 * still runs. */
	rc = pktio_open(&cfg, &io2);
	cr_assert_eq(rc, 0, "second joins: %s", strerror(-rc));
	cfg.fanout_defrag = true;
	rc = pktio_open(&cfg, &io3);
	cr_assert_eq(rc, -EINVAL, "different flags are refused (%d)", rc);
	cr_assert_null(io3);
	pktio_close(io2);
	pktio_close(io1);
}

Test(afpacket, frames_too_small_are_counted_as_truncated)
{
	struct pktio_cfg cfg;
	struct pktio_pkt pkts[32];
	struct pktio_stats st;
	struct pktio *io;
	uint64_t end;
	int rc;

	cr_assert_eq(sh("ip -n %s link set %s mtu 9000 && ip -n %s link set %s mtu 9000 && "
			"ip -n %s neigh add 10.9.0.99 lladdr 02:00:00:00:00:99 dev %s",
			ns_a, if_a, ns_f, if_fa, ns_a, if_a), 0);
	cfg_lab(&cfg, 1);
	cfg.n_queues = 1;
	cfg.frame_size = 2048;
	rc = pktio_open(&cfg, &io);
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_assert_eq(sh("ip netns exec %s timeout 10 /usr/bin/python3 %s udp-blast 10.9.0.99 "
			"7000 4000 5", ns_a, TRAFFIC_PY), 0);
	end = mono_ms() + 3000;
	do {
		pktio_rx_burst(io, 0, pkts, 32);
		pktio_stats(io, 0, &st);
	} while (st.v[PKTIO_ST_RX_TRUNC] < 5 && mono_ms() < end);
	cr_assert_eq(st.v[PKTIO_ST_RX_TRUNC], 5, "4042-byte frames in 2048-byte slots");
	pktio_close(io);
}

Test(afpacket, bad_interface)
{
	struct pktio_cfg cfg;
	struct pktio *io;

	cfg_lab(&cfg, 1);
	cfg.ports[0].ifname = "nosuchif0";
	cr_assert_eq(pktio_open(&cfg, &io), -ENODEV);
}

/* A device that goes away must not turn waiting into spinning: the socket's
 * error is read, counted, and the next waits sleep their full timeout. */
Test(afpacket, a_vanished_device_does_not_spin)
{
	struct pktio_cfg cfg;
	struct pktio_stats st;
	struct pktio *io;
	int rc;

	cfg_lab(&cfg, 1);
	cfg.n_queues = 1;
	rc = pktio_open(&cfg, &io);
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_assert_eq(sh("ip -n %s link del %s", ns_f, if_fa), 0);
	uint64_t t0 = mono_ms();
	for (int i = 0; i < 10; i++)
		cr_assert_geq(pktio_wait(io, 0, 50), 0);
	uint64_t waited = mono_ms() - t0;
	pktio_stats(io, 0, &st);
	cr_assert_geq(waited, 300, "10 waits of 50 ms returned after %lu ms: spinning",
		      (unsigned long)waited);
	cr_assert_geq(st.v[PKTIO_ST_SOCK_ERRORS], 1, "the socket's error was seen and counted");
	pktio_close(io);
}
