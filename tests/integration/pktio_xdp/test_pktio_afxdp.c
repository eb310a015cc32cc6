// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The AF_XDP back end on real veths, as a router.
 *
 * Lab per test, uniquely named and removed on success and on failure:
 *
 *   ns A: va 10.9.0.1/24 ── veth ── fa 10.9.0.254/24 ┐ ns F: pktio on fa
 *   ns B: vb 10.9.1.2/24 ── veth ── fb 10.9.1.254/24 ┘ (port 0), fb (port 1)
 *
 * The veths have two queues each and pktio runs two worker threads. F's
 * kernel does not forward (ip_forward 0): a packet reaches the other side
 * only through the userspace forwarder, which rewrites the Ethernet header
 * (the MACs are fixed at creation) and sends the frame out of the other
 * port. ARP for the router addresses is the kernel's: the XDP program must
 * pass it, or A and B never learn the router's MAC.
 *
 * A and B send with checksum offload off: XDP sees no skb metadata, so a
 * CHECKSUM_PARTIAL packet from a veth peer would be forwarded with only its
 * pseudo-header sum and dropped by the receiver (docs/pktio.md, AF_XDP).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/pktio.h"

static char ns_a[32], ns_f[32], ns_b[32];
static char if_a[16], if_fa[16], if_fb[16], if_b[16];
static char tmpdir[64];
static bool lab_up;

#define MAC_A  "02:00:00:00:0a:01"
#define MAC_FA "02:00:00:00:0a:fe"
#define MAC_FB "02:00:00:00:0b:fe"
#define MAC_B  "02:00:00:00:0b:02"

static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0x0a, 0x01 };
static const uint8_t mac_fa[6] = { 2, 0, 0, 0, 0x0a, 0xfe };
static const uint8_t mac_fb[6] = { 2, 0, 0, 0, 0x0b, 0xfe };
static const uint8_t mac_b[6] = { 2, 0, 0, 0, 0x0b, 0x02 };

static int sh(const char *fmt, ...) LOOM_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[2048];
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
	sh("for p in %s/*.pid; do [ -f \"$p\" ] && kill $(cat \"$p\") 2>/dev/null; done; true",
	   tmpdir);
	sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; "
	   "ip netns del %s 2>/dev/null; true", ns_a, ns_f, ns_b);
	sh("rm -rf %s", tmpdir);
	lab_up = false;
}

/* ethtool -K IFNAME tx off, in namespace ns (there is no ethtool binary in
 * the lab): a socket created in ns acts on ns's devices. */
static void tx_csum_off(const char *ns, const char *ifname)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = 0 };
	struct ifreq ifr;
	char path[64];
	int self, fd, s;

	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(self >= 0 && fd >= 0);
	cr_assert_eq(setns(fd, CLONE_NEWNET), 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(setns(self, CLONE_NEWNET), 0);
	cr_assert_geq(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	cr_assert_eq(ioctl(s, SIOCETHTOOL, &ifr), 0, "tx csum off on %s: %s", ifname,
		     strerror(errno));
	close(s);
	close(fd);
	close(self);
}

static void lab_setup(void)
{
	unsigned id = (unsigned)getpid() % 100000;
	char path[64];
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root for network namespaces");
	snprintf(ns_a, sizeof(ns_a), "lxd%u-a", id);
	snprintf(ns_f, sizeof(ns_f), "lxd%u-f", id);
	snprintf(ns_b, sizeof(ns_b), "lxd%u-b", id);
	snprintf(if_a, sizeof(if_a), "lxa%u", id);
	snprintf(if_fa, sizeof(if_fa), "lxfa%u", id);
	snprintf(if_fb, sizeof(if_fb), "lxfb%u", id);
	snprintf(if_b, sizeof(if_b), "lxb%u", id);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/loom-pktio-xdp-%u", id);
	lab_up = true;
	cr_assert_eq(sh("mkdir -p %s", tmpdir), 0);
	cr_assert_eq(sh("set -e; ip netns add %s; ip netns add %s; ip netns add %s; "
			"ip link add %s netns %s address " MAC_A " numtxqueues 2 numrxqueues 2 "
			"type veth peer name %s netns %s address " MAC_FA
			" numtxqueues 2 numrxqueues 2; "
			"ip link add %s netns %s address " MAC_B " numtxqueues 2 numrxqueues 2 "
			"type veth peer name %s netns %s address " MAC_FB
			" numtxqueues 2 numrxqueues 2; "
			"for n in %s %s %s; do ip netns exec $n sysctl -qw "
			"net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; "
			"ip -n $n link set lo up; done; "
			"ip netns exec %s sysctl -qw net.ipv4.ip_forward=0; "
			"ip -n %s addr add 10.9.0.1/24 dev %s; ip -n %s link set %s up; "
			"ip -n %s route add default via 10.9.0.254; "
			"ip -n %s addr add 10.9.1.2/24 dev %s; ip -n %s link set %s up; "
			"ip -n %s route add default via 10.9.1.254; "
			"ip -n %s addr add 10.9.0.254/24 dev %s; ip -n %s link set %s up; "
			"ip -n %s addr add 10.9.1.254/24 dev %s; ip -n %s link set %s up",
			ns_a, ns_f, ns_b,
			if_a, ns_a, if_fa, ns_f,
			if_b, ns_b, if_fb, ns_f,
			ns_a, ns_f, ns_b,
			ns_f,
			ns_a, if_a, ns_a, if_a, ns_a,
			ns_b, if_b, ns_b, if_b, ns_b,
			ns_f, if_fa, ns_f, if_fa,
			ns_f, if_fb, ns_f, if_fb), 0, "building the lab");
	tx_csum_off(ns_a, if_a);
	tx_csum_off(ns_b, if_b);
	/* Enter F for good: sockets and programs belong to the caller's
	 * namespace. */
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

TestSuite(afxdp, .init = lab_setup, .fini = lab_teardown, .timeout = 120);

/* --- the forwarder ---------------------------------------------------------- */

struct router {
	struct pktio *io;
	pthread_t th[2];
	volatile bool stop;
	uint64_t fwd[2];          /* per queue */
	uint64_t with_flags[2];
};

struct worker_arg {
	struct router *rt;
	unsigned q;
};

static struct worker_arg wargs[2];

/* Port 0 faces A, port 1 faces B: out of the other port, to its host. */
static void *worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct router *rt = wa->rt;
	struct pktio_pkt pkts[64];

	while (!rt->stop) {
		int n = pktio_rx_burst(rt->io, wa->q, pkts, 64);

		if (n <= 0) {
			pktio_wait(rt->io, wa->q, 20);
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct pktio_pkt *p = &pkts[i];

			/* AF_XDP carries no offload metadata. */
			rt->with_flags[wa->q] += p->flags != 0;
			p->port ^= 1;
			memcpy(p->data, p->port ? mac_b : mac_a, 6);
			memcpy(p->data + 6, p->port ? mac_fb : mac_fa, 6);
		}
		rt->fwd[wa->q] += (uint64_t)pktio_tx_burst(rt->io, wa->q, pkts, (unsigned)n);
		pktio_rx_release(rt->io, wa->q);
	}
	return NULL;
}

static void cfg_lab(struct pktio_cfg *cfg)
{
	pktio_cfg_init(cfg, "afxdp");
	cfg->n_queues = 2;
	cfg->n_ports = 2;
	cfg->ports[0].ifname = if_fa;
	cfg->ports[1].ifname = if_fb;
}

static void router_start(struct router *rt)
{
	struct pktio_cfg cfg;
	int rc;

	memset(rt, 0, sizeof(*rt));
	cfg_lab(&cfg);
	rc = pktio_open(&cfg, &rt->io);
	cr_assert_eq(rc, 0, "pktio_open: %s", strerror(-rc));
	for (unsigned q = 0; q < 2; q++) {
		wargs[q] = (struct worker_arg){ rt, q };
		cr_assert_eq(pthread_create(&rt->th[q], NULL, worker, &wargs[q]), 0);
	}
}

static void router_stop(struct router *rt, struct pktio_stats *st)
{
	rt->stop = true;
	for (unsigned q = 0; q < 2; q++)
		pthread_join(rt->th[q], NULL);
	pktio_stats(rt->io, -1u, st);
	for (unsigned s = 0; s < PKTIO__ST_MAX; s++)
		cr_log_info("%s %lu", pktio_stat_name(s), (unsigned long)st->v[s]);
	pktio_close(rt->io);
	rt->io = NULL;
}

static void bg(const char *ns, const char *name, unsigned secs, const char *args)
{
	cr_assert_eq(sh("ip netns exec %s timeout %u /usr/bin/python3 %s %s > %s/%s.out 2>&1 & "
			"echo $! > %s/%s.pid", ns, secs, TRAFFIC_PY, args, tmpdir, name,
			tmpdir, name), 0);
}

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

/* "xdp" appears in `ip link show` while a program is attached. */
static bool xdp_attached(const char *ifname, char *mode, size_t size)
{
	char cmd[128], line[512];
	bool found = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ip link show dev %s", ifname);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *x = strstr(line, "xdp");

		if (x && !found) {
			found = true;
			if (mode)
				snprintf(mode, size, "%.*s", (int)strcspn(x, " \n"), x);
		}
	}
	pclose(f);
	return found;
}

/* --- tests ------------------------------------------------------------------- */

Test(afxdp, udp_is_forwarded_intact)
{
	struct router rt;
	struct pktio_stats st;
	char out[128];
	int rc;

	router_start(&rt);
	bg(ns_b, "udp-server", 15, "udp-server 10.9.1.2 5000 1 12");
	/* a Python start-up on a busy machine can take longer than any pause */
	cr_assert(wait_output("udp-server", out, sizeof(out), 10000), "the echo server is bound");
	snprintf(out, sizeof(out), "%s/udp-check.out", tmpdir);
	rc = sh("ip netns exec %s timeout 20 /usr/bin/python3 %s udp-check 10.9.1.2 5000 400 "
		"> %s 2>&1", ns_a, UDP_CHECK_PY, out);
	router_stop(&rt, &st);
	cr_assert(wait_output("udp-check", out, sizeof(out), 100), "udp-check printed");
	cr_assert_eq(rc, 0, "sent got corrupt: %s", out);
	/* 400 requests and their echoes, plus ARP-free forwarding: every
	 * forwarded packet was received on a socket and sent on the other. */
	cr_assert_geq(st.v[PKTIO_ST_RX_PKTS], 720, "rx %lu", (unsigned long)st.v[PKTIO_ST_RX_PKTS]);
	cr_assert_eq(st.v[PKTIO_ST_TX_PKTS], rt.fwd[0] + rt.fwd[1]);
	cr_assert_eq(rt.with_flags[0] + rt.with_flags[1], 0, "no offload flags");
	cr_assert_eq(st.v[PKTIO_ST_TX_RING_FULL] + st.v[PKTIO_ST_TX_ERRORS] +
		     st.v[PKTIO_ST_TX_TOO_BIG] + st.v[PKTIO_ST_RX_BAD_META], 0);
}

Test(afxdp, tcp_bulk_crosses_the_forwarder)
{
	const unsigned long bytes = 32ul << 20;
	char srv[256], cli[256], hash_s[80], hash_c[80];
	unsigned long n_s = 0, n_c = 0;
	double secs = 0;
	struct router rt;
	struct pktio_stats st;
	FILE *f;
	int rc;

	router_start(&rt);
	bg(ns_b, "tcp-server", 60, "tcp-server 10.9.1.2 6000");
	usleep(300000);
	snprintf(cli, sizeof(cli), "ip netns exec %s timeout 60 /usr/bin/python3 %s "
		 "tcp-client 10.9.1.2 6000 %lu", ns_a, TRAFFIC_PY, bytes);
	f = popen(cli, "r");
	cr_assert_not_null(f);
	rc = fscanf(f, "%lu %79s %lf", &n_c, hash_c, &secs);
	pclose(f);
	cr_assert(wait_output("tcp-server", srv, sizeof(srv), 10000), "server finished");
	router_stop(&rt, &st);
	cr_assert_eq(rc, 3, "client completed");
	cr_assert_eq(sscanf(srv, "%lu %79s", &n_s, hash_s), 2, "server said: %s", srv);
	cr_assert_eq(n_s, bytes, "received %lu of %lu bytes", n_s, bytes);
	cr_assert_str_eq(hash_s, hash_c, "content intact");
	cr_assert_eq(st.v[PKTIO_ST_RX_BAD_META], 0);
	fprintf(stderr, "afxdp router: TCP %lu MiB in %.3f s = %.2f Gbit/s, %lu frames rx, "
		"%lu tx, %lu kernel drops, %lu ring full\n", bytes >> 20, secs,
		secs > 0 ? bytes * 8 / secs / 1e9 : 0.0, (unsigned long)st.v[PKTIO_ST_RX_PKTS],
		(unsigned long)st.v[PKTIO_ST_TX_PKTS],
		(unsigned long)st.v[PKTIO_ST_RX_KERNEL_DROPS],
		(unsigned long)st.v[PKTIO_ST_TX_RING_FULL]);
}

/*
 * With the program attached and nobody reading the sockets: ARP and ping to
 * the router's own address still get answers (the kernel keeps them), while
 * transit traffic goes to the sockets and nowhere else.
 */
Test(afxdp, arp_and_host_traffic_stay_with_the_kernel)
{
	struct pktio_cfg cfg;
	struct pktio_pkt pkts[64];
	struct pktio_stats st;
	struct pktio *io;
	char mode[32] = "";
	bool transit = false;
	uint64_t end;
	int rc;

	cfg_lab(&cfg);
	rc = pktio_open(&cfg, &io);
	cr_assert_eq(rc, 0, "pktio_open: %s", strerror(-rc));
	cr_assert(xdp_attached(if_fa, mode, sizeof(mode)), "program attached to %s", if_fa);
	cr_assert(xdp_attached(if_fb, NULL, 0));
	cr_log_info("attach mode on veth: %s", mode);
	cr_assert_eq(sh("ip -n %s neigh flush all", ns_a), 0);
	cr_assert_eq(sh("ip netns exec %s ping -c 2 -i 0.2 -W 2 10.9.0.254 > /dev/null", ns_a), 0,
		     "ARP and ping to the router's address are answered");
	cr_assert_eq(sh("ip -n %s neigh show 10.9.0.254 | grep -q " MAC_FA, ns_a), 0,
		     "A learnt the router's MAC by ARP");
	pktio_stats(io, -1u, &st);
	cr_assert_eq(st.v[PKTIO_ST_RX_PKTS], 0, "nothing for the host reached the sockets");

	/* Transit: a datagram to B is the forwarder's. */
	cr_assert_eq(sh("ip netns exec %s timeout 5 /usr/bin/python3 %s udp-blast 10.9.1.2 7000 "
			"100 3", ns_a, TRAFFIC_PY), 0);
	end = mono_ms() + 3000;
	while (!transit && mono_ms() < end) {
		for (unsigned q = 0; q < 2 && !transit; q++) {
			int n = pktio_rx_burst(io, q, pkts, 64);

			for (int i = 0; i < n; i++)
				transit |= pkts[i].port == 0 && pkts[i].len == 14 + 20 + 8 + 100 &&
					   !memcmp(pkts[i].data, mac_fa, 6);
		}
		pktio_wait(io, 0, 10);
	}
	cr_assert(transit, "the datagram to B arrived on port 0's socket");
	pktio_close(io);
}

Test(afxdp, program_detached_after_close)
{
	struct pktio_cfg cfg;
	struct pktio *io;
	int rc;

	cfg_lab(&cfg);
	rc = pktio_open(&cfg, &io);
	cr_assert_eq(rc, 0, "pktio_open: %s", strerror(-rc));
	cr_assert(xdp_attached(if_fa, NULL, 0) && xdp_attached(if_fb, NULL, 0));
	pktio_close(io);
	cr_assert_not(xdp_attached(if_fa, NULL, 0), "no program left on %s", if_fa);
	cr_assert_not(xdp_attached(if_fb, NULL, 0), "no program left on %s", if_fb);
	/* And the interfaces can be opened again at once. */
	rc = pktio_open(&cfg, &io);
	cr_assert_eq(rc, 0, "reopen: %s", strerror(-rc));
	pktio_close(io);
}

Test(afxdp, queue_count_must_match_the_device)
{
	struct pktio_cfg cfg;
	struct pktio *io;

	cfg_lab(&cfg);
	cfg.n_queues = 1;
	cr_assert_eq(pktio_open(&cfg, &io), -ECHRNG, "2-queue veth, 1 pktio queue");
	cr_assert_null(io);
	cr_assert_not(xdp_attached(if_fa, NULL, 0), "nothing left behind by a failed open");
	cfg.n_queues = 3;
	cr_assert_eq(pktio_open(&cfg, &io), -ECHRNG, "2-queue veth, 3 pktio queues");
}

Test(afxdp, bad_configuration)
{
	struct pktio_cfg cfg;
	struct pktio *io;

	cfg_lab(&cfg);
	cfg.ports[1].ifname = "nosuchif0";
	cr_assert_eq(pktio_open(&cfg, &io), -ENODEV);
	cfg_lab(&cfg);
	cfg.frame_size = 3000; /* UMEM chunks are powers of two */
	cr_assert_eq(pktio_open(&cfg, &io), -EINVAL);
	cfg.frame_size = 1024;
	cr_assert_eq(pktio_open(&cfg, &io), -EINVAL);
	cr_assert_not(xdp_attached(if_fa, NULL, 0));
}
