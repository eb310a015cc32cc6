// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loomctl: `loomctl [-i INSTANCE] OBJECT [COMMAND] [ARGS] [OPTIONS]`, in the
 * manner of ip(8): the object, then what to do with it. Options and the
 * command table only; the work is in ctl_*.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void usage(FILE *f)
{
	fputs("Usage: loomctl [-i INSTANCE] [-j] affinity [list] [-j] [-n N] [-w | -f]\n"
	      "       loomctl [-i INSTANCE] [-j] affinity show PROTO SRC[:PORT] DST[:PORT] [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] affinity stats [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] affinity forward [-j]\n"
	      "\n"
	      "  -i, --instance NAME  agent instance (default: $LOOM_INSTANCE, else \"default\")\n"
	      "  -j, --json           one JSON document on stdout\n"
	      "  -n, --limit N        at most N rows per section\n"
	      "  -w, --wildcards      list only the wildcards and advertised addresses\n"
	      "  -f, --fixed          list only the fixed affinities\n"
	      "\n"
	      "PROTO is tcp, udp, icmp, icmpv6, sctp, any or a number; an IPv6 address\n"
	      "with a port is written [2001:db8::1]:80.\n"
	      "Exit status: 0 ok, 1 not found, 2 usage, 3 the table cannot be read.\n",
	      f);
}

LOOM_PRINTF(1, 2)
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("loomctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	usage(stderr);
	return CTL_EXIT_USAGE;
}

static bool is_option(const char *s)
{
	return s[0] == '-' && s[1] != '\0';
}

/* Options of the affinity commands; positional arguments are left in args. */
static int parse_cmd_opts(int argc, char **argv, struct ctl_opts *o, bool listing,
			  char **args, int *nargs, int max_args)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },      { "limit", required_argument, NULL, 'n' },
		{ "wildcards", no_argument, NULL, 'w' }, { "fixed", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },      { NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	/* argv[0] is the command's name, as getopt expects. The global
	 * options' getopt run ended cleanly at the object's name, so setting
	 * optind is enough to start again. */
	optind = 1;
	opterr = 0;
	for (;;) {
		/* positional arguments and options may come in any order */
		while (optind < argc && !is_option(argv[optind])) {
			if (*nargs == max_args)
				return usage_error("unexpected argument '%s'", argv[optind]);
			args[(*nargs)++] = argv[optind++];
		}
		if (optind >= argc)
			break;
		c = getopt_long(argc, argv, listing ? "+jn:wfh" : "+jh", lopts, NULL);
		if (c == -1) {
			/* "--": everything after it is positional */
			while (optind < argc) {
				if (*nargs == max_args)
					return usage_error("unexpected argument '%s'",
							   argv[optind]);
				args[(*nargs)++] = argv[optind++];
			}
			break;
		}
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'n':
			errno = 0;
			o->limit = strtoull(optarg, &end, 10);
			if (!*optarg || *end || errno || optarg[0] == '-')
				return usage_error("bad --limit '%s': a number of rows", optarg);
			break;
		case 'w':
			o->only_wild = true;
			break;
		case 'f':
			o->only_fixed = true;
			break;
		case 'h':
			usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (o->only_wild && o->only_fixed)
		return usage_error("%s", "--wildcards and --fixed exclude each other");
	return 0;
}

static int cmd_list(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, true, NULL, &n, 0);

	return r ? r : ctl_cmd_aff_list(o);
}

static int cmd_show(int argc, char **argv, struct ctl_opts *o)
{
	char *args[3];
	struct flow_key k;
	int n = 0, r = parse_cmd_opts(argc, argv, o, false, args, &n, 3);

	if (r)
		return r;
	if (n != 3)
		return usage_error("%s", "show needs PROTO SRC[:PORT] DST[:PORT]");
	key_init(&k);
	if (ctl_parse_proto(args[0], &k.proto) < 0)
		return usage_error("bad protocol '%s'", args[0]);
	if (ctl_parse_endpoint(args[1], k.saddr, &k.sport) < 0)
		return usage_error("bad source '%s'", args[1]);
	if (ctl_parse_endpoint(args[2], k.daddr, &k.dport) < 0)
		return usage_error("bad destination '%s'", args[2]);
	return ctl_cmd_aff_show(o, &k);
}

static int cmd_stats(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, false, NULL, &n, 0);

	return r ? r : ctl_cmd_aff_stats(o);
}

static int cmd_forward(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, false, NULL, &n, 0);

	return r ? r : ctl_cmd_aff_forward(o);
}

static const struct {
	const char *name;
	const char *alias;
	int (*run)(int argc, char **argv, struct ctl_opts *o);
} aff_cmds[] = {
	{ "list", "ls", cmd_list },
	{ "show", "get", cmd_show },
	{ "stats", "stat", cmd_stats },
	{ "forward", "fwd", cmd_forward },
};

static int object_affinity(int argc, char **argv, struct ctl_opts *o)
{
	/* no command, or options right away: list */
	if (argc < 2 || argv[1][0] == '-')
		return cmd_list(argc, argv, o);
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(aff_cmds); i++)
		if (!strcmp(argv[1], aff_cmds[i].name) || !strcmp(argv[1], aff_cmds[i].alias))
			return aff_cmds[i].run(argc - 1, argv + 1, o);
	return usage_error("unknown affinity command '%s'", argv[1]);
}

static const struct {
	const char *name;
	const char *alias;
	int (*run)(int argc, char **argv, struct ctl_opts *o);
} objects[] = {
	{ "affinity", "aff", object_affinity },
};

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("LOOM_INSTANCE");
	struct ctl_opts o = {
		.instance = env && *env ? env : "default",
		.limit = UINT64_MAX,
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+i:jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o.instance = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		default:
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("%s", "which object? (affinity)");
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(objects); i++)
		if (!strcmp(argv[optind], objects[i].name) ||
		    !strcmp(argv[optind], objects[i].alias))
			return objects[i].run(argc - optind, argv + optind, &o);
	return usage_error("unknown object '%s'", argv[optind]);
}
