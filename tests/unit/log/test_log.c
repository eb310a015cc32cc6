// SPDX-License-Identifier: LGPL-2.1-or-later
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>

#include "common/key.h"
#include "common/log.h"

Test(log, level_parse_round_trip)
{
	static const char *const names[] = { "err", "warn", "notice", "info", "debug" };

	for (unsigned i = 0; i < 5; i++) {
		enum log_level l;
		cr_assert_eq(log_level_parse(names[i], &l), 0);
		cr_assert_eq((unsigned)l, i);
		cr_assert_str_eq(log_level_name(l), names[i]);
	}
	enum log_level l;
	cr_assert_eq(log_level_parse("loud", &l), -EINVAL);
	cr_assert_eq(log_level_parse(NULL, &l), -EINVAL);
}

static void redirect(void)
{
	cr_redirect_stderr();
}

Test(log, lines_name_the_daemon_and_level, .init = redirect)
{
	log_init("loom-test", LOG_LVL_INFO, LOG_TO_STDERR);
	log_info("hello %d", 42);
	log_debug("not shown");
	cr_assert_eq(log_errno(-ENOENT, "open %s", "x"), -ENOENT);
	fflush(stderr);
	char expect[256];
	snprintf(expect, sizeof(expect),
		 "loom-test[%d]: info: hello 42\nloom-test[%d]: err: open x: %s\n",
		 (int)getpid(), (int)getpid(), strerror(ENOENT));
	cr_assert_stderr_eq_str(expect);
}

Test(key, format_v4_and_v6)
{
	struct flow_key k;
	char buf[KEY_FMT_LEN];

	key_init(&k);
	key_addr_from_v4(k.saddr, htonl(0x0a000001));
	key_addr_from_v4(k.daddr, htonl(0x0a000002));
	k.sport = htons(1234);
	k.dport = htons(80);
	k.proto = 6;
	cr_assert_str_eq(key_format(&k, buf, sizeof(buf)), "6 10.0.0.1:1234 > 10.0.0.2:80");

	struct flow_key r;
	key_reverse(&r, &k);
	cr_assert_str_eq(key_format(&r, buf, sizeof(buf)), "6 10.0.0.2:80 > 10.0.0.1:1234");
	cr_assert(!key_equal(&r, &k));

	k.saddr[0] = 0x20; /* no longer v4-mapped */
	k.saddr[1] = 0x01;
	k.saddr[10] = 0;
	k.saddr[11] = 0;
	cr_assert_str_eq(key_format(&k, buf, sizeof(buf)), "6 [2001::a00:1]:1234 > [10.0.0.2]:80");
}
