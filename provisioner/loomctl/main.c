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
#include "ctl_api.h"

static void usage(FILE *f)
{
	fputs("Usage: loomctl [-i INSTANCE] [-j] affinity [list] [-j] [-n N] [-w | -f]\n"
	      "       loomctl [-i INSTANCE] [-j] affinity show PROTO SRC[:PORT] DST[:PORT] [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] affinity stats [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] affinity forward [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] service [list] [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] service show NAME [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] backend [list] [SERVICE] [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] flow [list] [-s SERVICE] [-t STATE] [-n N] [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] flow stats [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] chain [list] [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] chain show SERVICE [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] device [list] [-j]\n"
	      "       loomctl [-i INSTANCE] [-j] engine stats [-j]\n"
	      "       loomctl [--api URL] [--token T] [-j] RESOURCE [list | show ID | delete ID]\n"
	      "       loomctl [--api URL] [--token T] [-j] RESOURCE create (KEY=VALUE... | -f FILE)\n"
	      "       loomctl [--api URL] [--token T] [-j] RESOURCE update|replace ID\n"
	      "               (KEY=VALUE... | -f FILE)\n"
	      "       loomctl [--api URL] [--token T] [-j] version [list | show V |\n"
	      "               rollback V | render V TARGET]\n"
	      "       loomctl [--api URL] [--token T] [-j] push\n"
	      "       loomctl [--api URL] login USER   (password: $LOOM_PASSWORD or stdin)\n"
	      "\n"
	      "  -i, --instance NAME  daemon instance (default: $LOOM_INSTANCE, else \"default\")\n"
	      "  -j, --json           one JSON document on stdout\n"
	      "  -n, --limit N        at most N rows per section\n"
	      "  -w, --wildcards      list only the wildcards and advertised addresses\n"
	      "  -f, --fixed          list only the fixed affinities\n"
	      "  -s, --service NAME   only the flows of this service (a name or an id)\n"
	      "  -t, --state STATE    only flows in this state: new, established, fin-wait,\n"
	      "                       closing, dead\n"
	      "      --api URL        the provisioner's API (default: $LOOM_API, else\n"
	      "                       http://127.0.0.1:8080)\n"
	      "      --token T        a token from login (default: $LOOM_TOKEN)\n"
	      "\n"
	      "affinity reads a loom-fwd-agent's tables; service, backend and flow a\n"
	      "loom-svc-mgr's; chain, device and engine a loom-pkt-engine's. PROTO is\n"
	      "tcp, udp, icmp, icmpv6, sctp, any or a number;\n"
	      "an IPv6 address with a port is written [2001:db8::1]:80.\n"
	      "RESOURCE is one of the provisioner's API (plural, as in its URLs):\n"
	      "interfaces, segments, ip-pools, device-pools, devices, packages, customers,\n"
	      "services, acls, virtual-services, nat-pools, users; and trials (read only).\n"
	      "services also take: replicate ID name=N address=A, try ID [port=P] (waits for\n"
	      "the trial; exit 3 when it failed), cutover ID from=REPLICA [force=true].\n"
	      "Exit status: 0 ok, 1 not found, 2 usage, 3 the table (or the API) cannot be\n"
	      "read, 4 the API refused the request.\n",
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

/* What each command accepts, as getopt's option string. */
#define OPTS_PLAIN "+jh"
#define OPTS_AFF_LIST "+jn:wfh"
#define OPTS_FLOW_LIST "+jn:s:t:h"

/*
 * Options of a command; positional arguments are left in args. optstring
 * says which options the command takes: a long option is refused like a
 * short one when its letter is not in it.
 */
static int parse_cmd_opts(int argc, char **argv, struct ctl_opts *o, const char *optstring,
			  char **args, int *nargs, int max_args)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },      { "limit", required_argument, NULL, 'n' },
		{ "wildcards", no_argument, NULL, 'w' }, { "fixed", no_argument, NULL, 'f' },
		{ "service", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 't' },
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
		c = getopt_long(argc, argv, optstring, lopts, NULL);
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
		if (c != '?' && c != ':' && !strchr(optstring + 1, c))
			return usage_error("option '%s' does not apply to this command",
					   argv[optind - 1]);
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
		case 's':
			o->service = optarg;
			break;
		case 't':
			o->state = ctl_parse_flow_state(optarg);
			if (o->state < 0)
				return usage_error("bad --state '%s': new, established, fin-wait, "
						   "closing or dead", optarg);
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
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_AFF_LIST, NULL, &n, 0);

	return r ? r : ctl_cmd_aff_list(o);
}

static int cmd_show(int argc, char **argv, struct ctl_opts *o)
{
	char *args[3];
	struct flow_key k;
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, args, &n, 3);

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
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, NULL, &n, 0);

	return r ? r : ctl_cmd_aff_stats(o);
}

static int cmd_forward(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, NULL, &n, 0);

	return r ? r : ctl_cmd_aff_forward(o);
}

/* ---- service manager: service, backend, flow -------------------------------------- */

static int cmd_svc_list(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, NULL, &n, 0);

	return r ? r : ctl_cmd_svc_list(o);
}

static int cmd_svc_show(int argc, char **argv, struct ctl_opts *o)
{
	char *args[1];
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, args, &n, 1);

	if (r)
		return r;
	if (n != 1)
		return usage_error("%s", "service show needs a NAME");
	return ctl_cmd_svc_show(o, args[0]);
}

static int cmd_backend_list(int argc, char **argv, struct ctl_opts *o)
{
	char *args[1];
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, args, &n, 1);

	return r ? r : ctl_cmd_backend_list(o, n ? args[0] : NULL);
}

static int cmd_flow_list(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_FLOW_LIST, NULL, &n, 0);

	return r ? r : ctl_cmd_flow_list(o);
}

static int cmd_flow_stats(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, NULL, &n, 0);

	return r ? r : ctl_cmd_flow_stats(o);
}

/* ---- packet engine: chain, device, engine ------------------------------------------ */

static int cmd_chain_list(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, NULL, &n, 0);

	return r ? r : ctl_cmd_chain_list(o);
}

static int cmd_chain_show(int argc, char **argv, struct ctl_opts *o)
{
	char *args[1];
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, args, &n, 1);

	if (r)
		return r;
	if (n != 1)
		return usage_error("%s", "chain show needs a SERVICE");
	return ctl_cmd_chain_show(o, args[0]);
}

static int cmd_device_list(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, NULL, &n, 0);

	return r ? r : ctl_cmd_device_list(o);
}

static int cmd_engine_stats(int argc, char **argv, struct ctl_opts *o)
{
	int n = 0, r = parse_cmd_opts(argc, argv, o, OPTS_PLAIN, NULL, &n, 0);

	return r ? r : ctl_cmd_engine_stats(o);
}

/* ---- the command tables ------------------------------------------------------------- */

struct cmd {
	const char *name;
	const char *alias;
	int (*run)(int argc, char **argv, struct ctl_opts *o);
};

static const struct cmd aff_cmds[] = {
	{ "list", "ls", cmd_list },
	{ "show", "get", cmd_show },
	{ "stats", "stat", cmd_stats },
	{ "forward", "fwd", cmd_forward },
	{ NULL, NULL, NULL },
};

static const struct cmd svc_cmds[] = {
	{ "list", "ls", cmd_svc_list },
	{ "show", "get", cmd_svc_show },
	{ NULL, NULL, NULL },
};

static const struct cmd backend_cmds[] = {
	{ "list", "ls", cmd_backend_list },
	{ NULL, NULL, NULL },
};

static const struct cmd flow_cmds[] = {
	{ "list", "ls", cmd_flow_list },
	{ "stats", "stat", cmd_flow_stats },
	{ NULL, NULL, NULL },
};

static const struct cmd chain_cmds[] = {
	{ "list", "ls", cmd_chain_list },
	{ "show", "get", cmd_chain_show },
	{ NULL, NULL, NULL },
};

static const struct cmd device_cmds[] = {
	{ "list", "ls", cmd_device_list },
	{ NULL, NULL, NULL },
};

static const struct cmd engine_cmds[] = {
	{ "stats", "stat", cmd_engine_stats },
	{ NULL, NULL, NULL },
};

/*
 * argv[0] is the object. No command, or options right away: the first
 * command (list). backend takes its optional SERVICE right away too
 * (`loomctl backend web`), so for it an unknown word is an argument of list.
 */
static int run_object(int argc, char **argv, struct ctl_opts *o, const struct cmd *cmds,
		      bool default_takes_args)
{
	if (argc < 2 || argv[1][0] == '-')
		return cmds[0].run(argc, argv, o);
	for (const struct cmd *c = cmds; c->name; c++)
		if (!strcmp(argv[1], c->name) || !strcmp(argv[1], c->alias))
			return c->run(argc - 1, argv + 1, o);
	if (default_takes_args)
		return cmds[0].run(argc, argv, o);
	return usage_error("unknown %s command '%s'", argv[0], argv[1]);
}

static int object_affinity(int argc, char **argv, struct ctl_opts *o)
{
	return run_object(argc, argv, o, aff_cmds, false);
}

static int object_service(int argc, char **argv, struct ctl_opts *o)
{
	return run_object(argc, argv, o, svc_cmds, false);
}

static int object_backend(int argc, char **argv, struct ctl_opts *o)
{
	return run_object(argc, argv, o, backend_cmds, true);
}

static int object_flow(int argc, char **argv, struct ctl_opts *o)
{
	return run_object(argc, argv, o, flow_cmds, false);
}

static int object_chain(int argc, char **argv, struct ctl_opts *o)
{
	return run_object(argc, argv, o, chain_cmds, false);
}

static int object_device(int argc, char **argv, struct ctl_opts *o)
{
	return run_object(argc, argv, o, device_cmds, false);
}

static int object_engine(int argc, char **argv, struct ctl_opts *o)
{
	return run_object(argc, argv, o, engine_cmds, false);
}

static const struct {
	const char *name;
	const char *alias;
	int (*run)(int argc, char **argv, struct ctl_opts *o);
} objects[] = {
	{ "affinity", "aff", object_affinity },
	{ "service", "svc", object_service },
	{ "backend", "be", object_backend },
	{ "flow", "flows", object_flow },
	{ "chain", "chains", object_chain },
	{ "device", "dev", object_device },
	{ "engine", "eng", object_engine },
};

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "api", required_argument, NULL, 'A' },
		{ "token", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_api_opts api = { 0 };
	const char *env = getenv("LOOM_INSTANCE");
	struct ctl_opts o = {
		.instance = env && *env ? env : "default",
		.limit = UINT64_MAX,
		.state = -1,
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
		case 'A':
			api.url = optarg;
			break;
		case 'T':
			api.token = optarg;
			break;
		default:
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	api.json = o.json;
	if (optind < argc && ctl_api_object(argv[optind]))
		return ctl_api_run(argc - optind, argv + optind, &api);
	if (optind >= argc)
		return usage_error("%s", "which object? (affinity, service, backend, flow)");
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(objects); i++)
		if (!strcmp(argv[optind], objects[i].name) ||
		    !strcmp(argv[optind], objects[i].alias))
			return objects[i].run(argc - optind, argv + optind, &o);
	return usage_error("unknown object '%s'", argv[optind]);
}
