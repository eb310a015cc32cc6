/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A MAC address as a configuration scalar (CFG_CUSTOM rows): "02:00:00:00:00:01",
 * stored as uint8_t[6]. For every daemon that names link-layer addresses
 * (the pcap back end's own ports, next hops, devices on a segment).
 */
#ifndef LOOM_COMMON_CFG_MAC_H
#define LOOM_COMMON_CFG_MAC_H

#include "common/cfg.h"

cfg_parse_fn cfg_parse_mac;
cfg_dump_fn cfg_dump_mac;

#endif
