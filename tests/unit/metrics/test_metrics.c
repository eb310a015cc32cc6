// SPDX-License-Identifier: LGPL-2.1-or-later
/* The metrics endpoint: a real HTTP GET on loopback, answered from the loop. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/http.h"
#include "common/metrics.h"

static struct ev_loop *loop;
static struct metrics *m;
static unsigned scrapes;

static void fill(void *arg, struct metrics_out *o)
{
	(void)arg;
	scrapes++;
	metrics_family(o, "loom_test_packets_total", METRICS_COUNTER, "Packets, by event.");
	metrics_sample(o, "loom_test_packets_total", "event", "rx", NULL, NULL, NULL, NULL, 42);
	metrics_sample(o, "loom_test_packets_total", "event", "tx", "port", "a\"b\\c\nd", NULL,
		       NULL, 7);
	metrics_family(o, "loom_test_up", METRICS_GAUGE, "Up.");
	metrics_sample(o, "loom_test_up", NULL, NULL, NULL, NULL, NULL, NULL, 1);
	metrics_sample_f(o, "loom_test_ratio", "k", "v", 0.5);
}

static void setup(void)
{
	loop = ev_loop_new();
	cr_assert_not_null(loop);
	cr_assert_eq(metrics_open(loop, "127.0.0.1:0", fill, NULL, &m), 0);
	cr_assert_neq(metrics_port(m), 0);
}

static void teardown(void)
{
	metrics_close(m);
	ev_loop_free(loop);
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* Send req, run the loop until the server closes, return what came back. */
static char *get(const char *req)
{
	static char resp[16384];
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(metrics_port(m)),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t got = 0;

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 400; i++) {
		ev_run_once(loop, 5);
		ssize_t n = read(fd, resp + got, sizeof(resp) - 1 - got);
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
		else
			cr_assert_eq(errno, EAGAIN);
	}
	close(fd);
	resp[got] = '\0';
	return resp;
}

Test(metrics, a_scrape_is_the_text_format)
{
	const char *r = get("GET /metrics HTTP/1.0\r\n\r\n");

	cr_assert(strstr(r, "HTTP/1.0 200") || strstr(r, "HTTP/1.1 200"), "%s", r);
	cr_assert(strstr(r, "Content-Type: text/plain; version=0.0.4"), "%s", r);
	cr_assert(strstr(r, "# HELP loom_test_packets_total Packets, by event.\n"
			    "# TYPE loom_test_packets_total counter\n"
			    "loom_test_packets_total{event=\"rx\"} 42\n"), "%s", r);
	cr_assert(strstr(r, "loom_test_packets_total{event=\"tx\",port=\"a\\\"b\\\\c\\nd\"} 7\n"),
		  "label values escaped: %s", r);
	cr_assert(strstr(r, "# TYPE loom_test_up gauge\nloom_test_up 1\n"), "%s", r);
	cr_assert(strstr(r, "loom_test_ratio{k=\"v\"} 0.5\n"), "%s", r);
	cr_assert_eq(scrapes, 1);
}

Test(metrics, other_paths_and_methods_are_refused)
{
	cr_assert(strstr(get("GET /nope HTTP/1.0\r\n\r\n"), " 404"));
	const char *r = get("POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
	cr_assert(strstr(r, " 405"), "%s", r);
	cr_assert(strstr(r, "Allow: GET, HEAD"), "%s", r);
	cr_assert_eq(scrapes, 0, "refused requests do not scrape");
}

Test(metrics, listen_strings)
{
	struct http_config c;

	cr_assert_eq(http_parse_listen("127.0.0.1:9101", &c), 0);
	cr_assert_eq(c.port, 9101);
	cr_assert_eq(c.addr[15], 1);
	cr_assert_eq(http_parse_listen("[::1]:80", &c), 0);
	cr_assert_eq(c.addr[15], 1);
	cr_assert_eq(c.addr[10], 0, "IPv6, not mapped");
	cr_assert_eq(http_parse_listen(":9100", &c), 0);
	cr_assert_eq(c.addr[10], 0xff, "every IPv4 address");
	cr_assert_lt(http_parse_listen("127.0.0.1", &c), 0);
	cr_assert_lt(http_parse_listen("127.0.0.1:70000", &c), 0);
	cr_assert_lt(http_parse_listen("[::1:80", &c), 0);
	cr_assert_lt(http_parse_listen("nohost:80", &c), 0);
}
