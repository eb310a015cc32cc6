/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loomctl's API commands: a client of loom-provisioner's REST API
 * (docs/api.md) over libcurl, beside the shared-memory views of ctl.h.
 * Objects are the API's resources by their URL names (plural: `services`
 * is the provisioner's model, `service` a manager's live table), plus
 * `login`, `version` and `push`. The server's JSON errors are shown as one
 * line: status, code, message and field.
 */
#ifndef LOOM_CTL_API_H
#define LOOM_CTL_API_H

#include <jansson.h>
#include <stdbool.h>

/* Exit status when the API refused the request (docs/loomctl.md). */
#define CTL_EXIT_REFUSED 4

struct ctl_api_opts {
	const char *url;        /* --api, else $LOOM_API, else http://127.0.0.1:8080 */
	const char *token;      /* --token, else $LOOM_TOKEN */
	bool json;
};

/* Is name one of the API objects? */
bool ctl_api_object(const char *name);
/* Run `OBJECT [COMMAND] [ARGS]` (argv[0] is the object). An exit status. */
int ctl_api_run(int argc, char **argv, const struct ctl_api_opts *o);

#endif
