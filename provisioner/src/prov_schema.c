// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The resources of the model as tables (see prov_model.h). The SQL tables
 * they map to are created by prov_db.c's migrations, column for field.
 */
#include <string.h>

#include "prov_check.h"
#include "prov_model.h"

#define PORT .min = 1, .max = 65535

static const char *const modes[] = { "loopback", "alias", "nat", NULL };
static const char *const l4[] = { "tcp", "udp", NULL };
static const char *const acl_protos[] = { "any", "tcp", "udp", "icmp", NULL };
static const char *const actions[] = { "allow", "deny", NULL };
static const char *const algorithms[] = { "rr", "wrr", "wlc", "maglev", NULL };
static const char *const healths[] = { "none", "tcp", "http", NULL };
const char *const prov_role_names[] = { "provider-admin", "customer-admin", NULL };

/* Interfaces and customers: a name and a description. */
static const struct prov_field named_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "description", .type = PF_TEXT },
};
static const struct prov_resource interfaces = {
	"interfaces", "interfaces", "interface", named_fields, LOOM_ARRAY_SIZE(named_fields),
	.versioned = true,
};

static const struct prov_field segment_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "interface", .type = PF_REF, .required = true, .ref = "interfaces" },
	{ .name = "prefix", .type = PF_PREFIX, .required = true },
	{ .name = "vlan", .type = PF_INT, .def = "0", .min = 0, .max = 4094 },
};
static const struct prov_resource segments = {
	"segments", "segments", "segment", segment_fields, LOOM_ARRAY_SIZE(segment_fields),
	.check = prov_check_segment, .versioned = true,
	.recheck = { "devices" },
};

static const struct prov_field ip_pool_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "interface", .type = PF_REF, .ref = "interfaces" },
	{ .name = "prefix", .type = PF_PREFIX, .required = true },
};
static const struct prov_resource ip_pools = {
	"ip-pools", "ip_pools", "service IP pool", ip_pool_fields, LOOM_ARRAY_SIZE(ip_pool_fields),
	.check = prov_check_ip_pool, .versioned = true,
	.recheck = { "services" },
};

static const struct prov_field device_pool_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "function", .type = PF_NAME, .required = true },
	{ .name = "brand", .type = PF_TEXT, .required = true, .max = 63 },
};
static const struct prov_resource device_pools = {
	"device-pools", "device_pools", "device pool", device_pool_fields,
	LOOM_ARRAY_SIZE(device_pool_fields), .versioned = true,
	.recheck = { "services" },
};

static const struct prov_field device_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "pool", .type = PF_REF, .required = true, .ref = "device_pools" },
	{ .name = "segment", .type = PF_REF, .ref = "segments" },
	{ .name = "mac", .type = PF_MAC, .required = true },
	{ .name = "address", .type = PF_ADDR, .required = true },
	{ .name = "mode", .type = PF_ENUM, .required = true, .names = modes },
	{ .name = "alternate", .type = PF_REF, .ref = "devices" },
	/* a device with two arms (a router, a firewall): the other one */
	{ .name = "out_segment", .type = PF_REF, .ref = "segments" },
	{ .name = "out_mac", .type = PF_MAC },
};
static const struct prov_resource devices = {
	"devices", "devices", "device", device_fields, LOOM_ARRAY_SIZE(device_fields),
	.check = prov_check_device, .versioned = true,
	.recheck = { "devices", "services" },
};

static const struct prov_field function_elem[] = {
	{ .name = "function", .type = PF_NAME, .required = true },
};
static const struct prov_list package_functions = { "package_functions", function_elem, 1 };
static const struct prov_field package_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "description", .type = PF_TEXT },
	{ .name = "functions", .type = PF_LIST, .required = true, .min = 1, .max = 16,
	  .list = &package_functions },
};
static const struct prov_resource packages = {
	"packages", "packages", "service package", package_fields, LOOM_ARRAY_SIZE(package_fields),
	.versioned = true,
	.recheck = { "services" },
};

static const struct prov_resource customers = {
	"customers", "customers", "customer", named_fields, LOOM_ARRAY_SIZE(named_fields),
	.versioned = true,
};

static const struct prov_field device_elem[] = {
	{ .name = "device", .type = PF_REF, .required = true, .ref = "devices" },
};
static const struct prov_list service_devices = { "service_devices", device_elem, 1 };
static const struct prov_field order_elem[] = {
	{ .name = "step", .type = PF_INT, .required = true, .max = 15 },
};
static const struct prov_list service_order = { "service_order", order_elem, 1 };
static const struct prov_field port_elem[] = {
	{ .name = "protocol", .type = PF_ENUM, .required = true, .names = l4 },
	{ .name = "port", .type = PF_INT, .required = true, PORT },
	{ .name = "port_end", .type = PF_INT, PORT },  /* a dynamic range port..port_end */
};
static const struct prov_list service_ports = {
	"service_ports", port_elem, LOOM_ARRAY_SIZE(port_elem),
};
static const struct prov_field service_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "customer", .type = PF_REF, .required = true, .ref = "customers" },
	{ .name = "package", .type = PF_REF, .required = true, .ref = "packages" },
	{ .name = "pool", .type = PF_REF, .required = true, .ref = "ip_pools" },
	{ .name = "address", .type = PF_ADDR, .required = true },
	{ .name = "devices", .type = PF_LIST, .required = true, .min = 1, .max = 16,
	  .list = &service_devices },
	{ .name = "order", .type = PF_LIST, .max = 16, .list = &service_order },
	{ .name = "ports", .type = PF_LIST, .required = true, .min = 1, .max = 64,
	  .list = &service_ports },
};
static const struct prov_resource services = {
	"services", "services", "service", service_fields, LOOM_ARRAY_SIZE(service_fields),
	.check = prov_check_service, .versioned = true, .owner_field = "customer",
};

static const struct prov_field acl_fields[] = {
	{ .name = "service", .type = PF_REF, .required = true, .ref = "services",
	  .owned_by = true },
	{ .name = "interface", .type = PF_REF, .ref = "interfaces" },
	   /* null: every ingress interface */
	{ .name = "position", .type = PF_INT, .required = true, .min = 0, .max = 65535 },
	{ .name = "action", .type = PF_ENUM, .required = true, .names = actions },
	{ .name = "protocol", .type = PF_ENUM, .def = "any", .names = acl_protos },
	{ .name = "source", .type = PF_PREFIX },                       /* null: any source */
	{ .name = "port", .type = PF_INT, .def = "0", .min = 0, .max = 65535 },  /* 0: any port */
	{ .name = "port_end", .type = PF_INT, PORT },
};
static const struct prov_resource acls = {
	"acls", "acls", "ACL rule", acl_fields, LOOM_ARRAY_SIZE(acl_fields),
	.check = prov_check_acl, .versioned = true, .owner_field = "service",
	.owner_sql = "SELECT customer FROM services WHERE id = ?1",
};

static const struct prov_field domain_elem[] = {
	{ .name = "domain", .type = PF_PREFIX, .required = true },
};
static const struct prov_list vs_domains = { "virtual_service_domains", domain_elem, 1 };
static const struct prov_field backend_elem[] = {
	{ .name = "address", .type = PF_ADDR, .required = true },
	{ .name = "port", .type = PF_INT, .required = true, PORT },
	{ .name = "weight", .type = PF_INT, .def = "1", .min = 0, .max = 1000 },
};
static const struct prov_list vs_backends = {
	"virtual_service_backends", backend_elem, LOOM_ARRAY_SIZE(backend_elem),
};
static const struct prov_field vs_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "customer", .type = PF_REF, .ref = "customers" },
	{ .name = "address", .type = PF_ADDR, .required = true },
	{ .name = "protocol", .type = PF_ENUM, .required = true, .names = l4 },
	{ .name = "port", .type = PF_INT, .required = true, PORT },
	{ .name = "algorithm", .type = PF_ENUM, .def = "rr", .names = algorithms },
	{ .name = "persistence_s", .type = PF_INT, .def = "0", .min = 0, .max = 86400 },
	{ .name = "health", .type = PF_ENUM, .def = "tcp", .names = healths },
	{ .name = "health_interval_ms", .type = PF_INT, .def = "2000", .min = 100, .max = 600000 },
	{ .name = "health_timeout_ms", .type = PF_INT, .def = "1000", .min = 50, .max = 600000 },
	{ .name = "health_path", .type = PF_TEXT },
	{ .name = "client_domains", .type = PF_LIST, .max = 64, .list = &vs_domains },
	{ .name = "backends", .type = PF_LIST, .required = true, .min = 1, .max = 256,
	  .list = &vs_backends },
};
static const struct prov_resource virtual_services = {
	"virtual-services", "virtual_services", "virtual service", vs_fields, LOOM_ARRAY_SIZE(vs_fields),
	.check = prov_check_virtual_service, .versioned = true, .owner_field = "customer",
};

static const struct prov_field inside_elem[] = {
	{ .name = "network", .type = PF_PREFIX, .required = true },
};
static const struct prov_list nat_inside = { "nat_pool_inside", inside_elem, 1 };
static const struct prov_field nat_pool_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "prefix", .type = PF_PREFIX, .required = true },
	{ .name = "port_min", .type = PF_INT, .def = "1024", .min = 1024, .max = 65535 },
	{ .name = "port_max", .type = PF_INT, .def = "65535", .min = 1024, .max = 65535 },
	{ .name = "inside", .type = PF_LIST, .max = 64, .list = &nat_inside },
};
static const struct prov_resource nat_pools = {
	"nat-pools", "nat_pools", "NAT pool", nat_pool_fields, LOOM_ARRAY_SIZE(nat_pool_fields),
	.check = prov_check_nat_pool, .versioned = true,
};

static const struct prov_field user_fields[] = {
	{ .name = "name", .type = PF_NAME, .required = true },
	{ .name = "password", .type = PF_SECRET, .required = true, .min = 8, .max = 256 },
	{ .name = "role", .type = PF_ENUM, .required = true, .names = prov_role_names },
	{ .name = "customer", .type = PF_REF, .ref = "customers" },
};
static const struct prov_resource users = {
	"users", "users", "user", user_fields, LOOM_ARRAY_SIZE(user_fields), .check = prov_check_user,
};

const struct prov_resource *const prov_resources[] = {
	&interfaces, &segments, &ip_pools, &device_pools, &devices, &packages, &customers,
	&services, &acls, &virtual_services, &nat_pools, &users,
};
const size_t prov_n_resources = LOOM_ARRAY_SIZE(prov_resources);

const struct prov_resource *prov_resource_by_url(const char *url)
{
	for (size_t i = 0; i < prov_n_resources; i++)
		if (!strcmp(prov_resources[i]->url, url))
			return prov_resources[i];
	return NULL;
}

const struct prov_resource *prov_resource_by_table(const char *table)
{
	for (size_t i = 0; i < prov_n_resources; i++)
		if (!strcmp(prov_resources[i]->table, table))
			return prov_resources[i];
	return NULL;
}
