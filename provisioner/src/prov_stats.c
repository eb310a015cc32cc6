// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <string.h>

#include "ctl.h"
#include "prov_stats.h"
#include "prov_version.h"

/* Why a table could not be read, for the operator who configured it. */
static const char *why(int r)
{
	switch (r) {
	case -ENOENT:
		return "no such table: is the daemon running with this instance name?";
	case -EACCES:
	case -EPERM:
		return "no permission to attach to the table (the provisioner's user "
		       "needs read-write access to /dev/shm/loom.<instance>.*)";
	case -ENODATA:
		return "nothing published yet";
	case -EBADMSG:
		return "the published table is invalid";
	case -EPROTO:
		return "a layout this provisioner does not understand (another version)";
	default:
		return strerror(-r);
	}
}

/* The names of the objects of resource url who may see. */
static int visible(struct prov_model *m, const struct prov_actor *who, const char *url,
		   json_t **names, struct prov_error *e)
{
	json_t *list, *o;
	size_t i;
	int r = prov_obj_list(m, prov_resource_by_url(url), who, &list, e);

	if (r)
		return r;
	*names = json_object();
	json_array_foreach(list, i, o)
		json_object_set(*names, json_string_value(json_object_get(o, "name")),
				json_true());
	json_decref(list);
	return 0;
}

/* Keep the members of arr whose key is one of names (and, with type, of that type). */
static void keep_own(json_t *arr, const char *key, const json_t *names, const char *type)
{
	for (size_t i = json_array_size(arr); i-- > 0;) {
		json_t *o = json_array_get(arr, i);
		const char *name = json_string_value(json_object_get(o, key));
		const char *t = json_string_value(json_object_get(o, "type"));
		if (!name || !json_object_get(names, name) || (type && (!t || strcmp(t, type))))
			json_array_remove(arr, i);
	}
}

static json_t *read_one(const struct prov_stats_cfg *src)
{
	json_t *doc;
	int r = src->kind == PROV_TARGET_PKT_ENGINE ? ctl_engine_doc(src->instance, &doc)
						    : ctl_svcmgr_doc(src->instance, &doc);

	if (r < 0)
		return json_pack("{s:s, s:s}", "instance", src->instance, "error", why(r));
	return doc;
}

int prov_stats_get(struct prov_model *m, const struct prov_actor *who,
		   const struct prov_stats_cfg *src, unsigned n, json_t **out,
		   struct prov_error *e)
{
	bool customer = who->role == PROV_ROLE_CUSTOMER;
	json_t *services = NULL, *vs = NULL, *engines = json_array(), *managers = json_array();
	int r = 0;

	/* the model's own visibility rules: what its lists show this actor */
	if (customer && ((r = visible(m, who, "services", &services, e)) ||
			 (r = visible(m, who, "virtual-services", &vs, e))))
		goto out;
	for (unsigned i = 0; i < n; i++) {
		json_t *doc = read_one(&src[i]);
		bool engine = src[i].kind == PROV_TARGET_PKT_ENGINE;
		if (customer && !json_object_get(doc, "error")) {
			if (engine) {
				json_t *chains = json_object_get(doc, "chains"), *c;
				size_t k;
				keep_own(chains, "service", services, NULL);
				json_array_foreach(chains, k, c)
					json_object_del(c, "chain");
				json_object_del(doc, "devices");
			} else {
				keep_own(json_object_get(doc, "services"), "name", vs, "lb");
			}
		}
		json_array_append_new(engine ? engines : managers, doc);
	}
	*out = json_pack("{s:O, s:O}", "engines", engines, "managers", managers);
	if (!*out)
		r = prov_fail(e, PROV_E_INTERNAL, NULL, "out of memory");
out:
	json_decref(services);
	json_decref(vs);
	json_decref(engines);
	json_decref(managers);
	return r;
}
