/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rules of each resource that span objects (step 3 of a change, see
 * prov_model.h). Each gets the normalised object and its id (0 when new)
 * and reads the others from the database, inside the change's transaction.
 */
#ifndef LOOM_PROV_CHECK_H
#define LOOM_PROV_CHECK_H

#include "prov_model.h"

prov_check_fn prov_check_segment;
prov_check_fn prov_check_ip_pool;
prov_check_fn prov_check_device;
prov_check_fn prov_check_service;
prov_check_fn prov_check_acl;
prov_check_fn prov_check_virtual_service;
prov_check_fn prov_check_nat_pool;
prov_check_fn prov_check_user;

#endif
