/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LOOM_COMMON_NFT_FILTER_H
#define LOOM_COMMON_NFT_FILTER_H

#include <stdbool.h>

/*
 * The netdev ingress filter of the data planes (loom-fwd-agent,
 * loom-pkt-engine). AF_PACKET taps a copy of every packet; the kernel would
 * still route (or reject) the transit ones itself.
 *
 * Install (or replace) the netdev ingress table loom_<instance> that keeps
 * the kernel from also processing the transit packets the daemon forwards.
 * Set-up only (needs CAP_NET_ADMIN). 0 or -errno.
 *
 * owned = false (router mode): nft(8) runs once and the table outlives the
 * agent, so the kernel never forwards untranslated packets while a
 * restarted agent comes up.
 *
 * owned = true (host mode): the table carries nftables' owner flag and
 * belongs to an `nft -i` child that lives as long as the agent holds its
 * standard input open; when the agent exits or dies, the kernel removes the
 * table and its own forwarding takes the packets the normal way again (the
 * fallback host mode wants: replies go through the translating agent).
 */
int nft_filter_install(const char *instance, const char *const *ifnames, unsigned n, bool owned);

/* Host mode: end the owned table now (the agent's orderly exit). */
void nft_filter_release(void);

#endif
