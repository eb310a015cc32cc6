/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LOOM_FWD_NFT_H
#define LOOM_FWD_NFT_H

/*
 * Install (or replace) the netdev ingress table loom_<instance> that keeps
 * the kernel from also processing the transit packets the agent forwards.
 * Runs nft(8) once; set-up only (needs CAP_NET_ADMIN). 0 or -errno.
 */
int fwd_nft_install(const char *instance, const char *const *ifnames, unsigned n);

#endif
