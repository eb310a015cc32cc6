/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Addresses, prefixes and MAC addresses as the API writes them, parsed
 * strictly and printed canonically (so the database stores one spelling of
 * each and comparisons can be done on the parsed form).
 */
#ifndef LOOM_PROV_ADDR_H
#define LOOM_PROV_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An IPv4 address is kept IPv4-mapped; len is the prefix length as written. */
struct prov_prefix {
	uint8_t a[16];
	unsigned len; /* 0-32 for IPv4, 0-128 for IPv6; 32/128 for an address */
	bool v4;
};

#define PROV_ADDR_TEXT 64 /* enough for an IPv6 prefix and its NUL */

/* "192.0.2.1" or "2001:db8::1": 0, or -EINVAL. */
int prov_addr_parse(const char *s, struct prov_prefix *out);
/*
 * "192.0.2.0/24": 0, -EINVAL if it does not parse, -EDOM if host bits are
 * set (the caller says so: a different mistake).
 */
int prov_prefix_parse(const char *s, struct prov_prefix *out);
/* Canonical text into buf (PROV_ADDR_TEXT bytes); with "/len" if prefix. */
void prov_prefix_format(const struct prov_prefix *p, bool prefix, char *buf, size_t len);

/* Whether p (a prefix) holds every address of q (prefix or address). */
bool prov_prefix_contains(const struct prov_prefix *p, const struct prov_prefix *q);
/* Whether two prefixes share an address. */
bool prov_prefix_overlap(const struct prov_prefix *p, const struct prov_prefix *q);

/*
 * "02:00:5e:10:00:01" (also with '-'): 0, or -EINVAL; -EDOM for a multicast,
 * broadcast or all-zero address (never a device's). Canonical lowercase with
 * ':' into out[18].
 */
int prov_mac_parse(const char *s, char out[18]);

#endif
