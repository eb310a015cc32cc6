// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common/key.h"

#include <arpa/inet.h>
#include <stdio.h>

char *key_addr_format(const uint8_t a[16], char *buf, size_t len)
{
	if (key_addr_is_v4(a))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	return buf;
}

char *key_format(const struct flow_key *k, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	bool v6 = !key_addr_is_v4(k->saddr) || !key_addr_is_v4(k->daddr);

	key_addr_format(k->saddr, s, sizeof(s));
	key_addr_format(k->daddr, d, sizeof(d));
	snprintf(buf, len, v6 ? "%u [%s]:%u > [%s]:%u" : "%u %s:%u > %s:%u",
		 k->proto, s, ntohs(k->sport), d, ntohs(k->dport));
	return buf;
}
