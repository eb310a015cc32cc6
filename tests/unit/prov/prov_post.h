/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * For unit tests that build a provisioner model the way the REST API does,
 * through its create call: test_prov_push.c here and the engine's
 * test_pe_prov.c, which render the model for a daemon.
 */
#ifndef LOOM_TESTS_PROV_POST_H
#define LOOM_TESTS_PROV_POST_H

#include <criterion/criterion.h>
#include <jansson.h>

#include "prov_model.h"

/* Create the object text (JSON) describes under url ("services", "acls"...)
 * as the provider would POST it; the test fails with the model's reason if
 * it is refused. */
static inline void prov_post(struct prov_model *m, const char *url, const char *text)
{
	struct prov_error e;
	json_error_t jerr;
	json_t *body = json_loads(text, 0, &jerr), *out = NULL;

	cr_assert_not_null(body, "%s", jerr.text);
	cr_assert_eq(prov_obj_create(m, prov_resource_by_url(url), NULL, body, &out, &e), 0,
		     "%s: %s", e.field, e.message);
	json_decref(body);
	json_decref(out);
}

#endif
