# SPDX-License-Identifier: LGPL-2.1-or-later
"""loom-provisioner's REST API end to end: every resource created, read,
updated and deleted; every validation error a clear JSON error with nothing
stored; customers kept apart; rollback; restart; HTTP-level limits."""
import json

import pytest

# (url, body to create, changes for PATCH) in dependency order: each body
# refers to the objects made before it (all ids are 1 in a fresh database).
RESOURCES = [
    ("interfaces", {"name": "eth0", "description": "clients"}, {"description": "outside"}),
    ("segments", {"name": "appliances", "interface": 1, "prefix": "10.1.0.0/24", "vlan": 10},
     {"vlan": 11}),
    ("ip-pools", {"name": "public", "interface": 1, "prefix": "198.51.100.0/24"},
     {"name": "public-v4"}),
    ("device-pools", {"name": "firewalls", "function": "firewall", "brand": "acme"},
     {"brand": "acme-ng"}),
    ("devices", {"name": "fw1", "pool": 1, "segment": 1, "mac": "02:00:00:00:00:01",
                 "address": "10.1.0.11", "mode": "nat"}, {"mode": "alias"}),
    ("packages", {"name": "basic", "description": "a firewall", "functions": ["firewall"]},
     {"description": "one firewall"}),
    ("customers", {"name": "acme"}, {"description": "Acme Corp."}),
    ("services", {"name": "web", "customer": 1, "package": 1, "pool": 1,
                  "address": "198.51.100.10", "devices": [1],
                  "ports": [{"protocol": "tcp", "port": 80},
                            {"protocol": "udp", "port": 10000, "port_end": 10100}]},
     {"ports": [{"protocol": "tcp", "port": 443}]}),
    ("acls", {"service": 1, "interface": 1, "position": 10, "action": "deny",
              "protocol": "tcp", "source": "192.0.2.0/24", "port": 22},
     {"action": "allow"}),
    ("virtual-services", {"name": "www", "customer": 1, "address": "203.0.113.10",
                          "protocol": "tcp", "port": 80, "algorithm": "wrr",
                          "persistence_s": 300, "health": "http", "health_path": "/health",
                          "client_domains": ["192.0.2.0/24"],
                          "backends": [{"address": "10.2.0.1", "port": 8080, "weight": 3},
                                       {"address": "10.2.0.2", "port": 8080}]},
     {"algorithm": "maglev"}),
    ("nat-pools", {"name": "outside", "prefix": "203.0.113.128/25", "port_min": 2000,
                   "port_max": 60000, "inside": ["10.0.0.0/8"]}, {"port_max": 50000}),
    ("users", {"name": "carol", "password": "carols-password", "role": "customer-admin",
               "customer": 1}, {"name": "caroline"}),
]


def populate(p, token=None):
    for url, body, _ in RESOURCES:
        status, doc = p.call("POST", url, body, token or p.token)
        assert status == 201, (url, doc)


def current(p):
    status, doc = p.call("GET", "versions/current", token=p.token)
    assert status == 200, doc
    return doc


def shows(sent, got):
    """Whether the API shows back what was sent (it adds defaults, never a password)."""
    if isinstance(sent, dict):
        return all(k == "password" and k not in got or k in got and shows(v, got[k])
                   for k, v in sent.items())
    if isinstance(sent, list):
        return len(sent) == len(got) and all(shows(a, b) for a, b in zip(sent, got))
    return sent == got


def test_every_resource_created_read_updated_deleted(prov):
    t = prov.token
    ids = {}
    for url, body, change in RESOURCES:
        status, made = prov.call("POST", url, body, t)
        assert status == 201, (url, made)
        assert shows(body, made), (url, made)
        oid = ids[url] = made["id"]
        status, got = prov.call("GET", f"{url}/{oid}", token=t)
        assert status == 200 and got == made, (url, got)
        status, listed = prov.call("GET", url, token=t)
        assert status == 200 and made in listed, (url, listed)
        # PATCH changes what it names and keeps the rest
        status, patched = prov.call("PATCH", f"{url}/{oid}", change, t)
        assert status == 200, (url, patched)
        assert shows({**made, **change}, patched), (url, patched)
        # PUT replaces the whole object
        full = {**body, **change}
        status, put = prov.call("PUT", f"{url}/{oid}", full, t)
        assert status == 200, (url, put)
        status, got = prov.call("GET", f"{url}/{oid}", token=t)
        assert got == put == patched, (url, got, put)
    # deleting in reverse order: each goes, and reads back as 404
    for url, _, _ in reversed(RESOURCES):
        status, doc = prov.call("DELETE", f"{url}/{ids[url]}", token=t)
        assert status == 204 and doc is None, (url, doc)
        status, doc = prov.call("GET", f"{url}/{ids[url]}", token=t)
        assert status == 404 and doc["error"]["code"] == "not-found", (url, doc)
    assert current(prov)["document"]["resources"]["services"] == []
    # the last provider-admin cannot go, nor stop being one
    status, doc = prov.call("DELETE", "users/1", token=t)
    assert status == 409 and doc["error"]["code"] == "conflict", doc
    assert prov.call("GET", "users/1", token=t)[0] == 200


def service(**changes):
    """A new service's body that is valid against the populated set, but for changes."""
    return {"name": "s", "customer": 1, "package": 1, "pool": 1, "address": "198.51.100.20",
            "devices": [1], "ports": [{"protocol": "tcp", "port": 80}], **changes}


# (what, method, url, body, status, code, field) against the populated set
REFUSALS = [
    ("not JSON", "POST", "interfaces", b"{\"name\": ", 400, "malformed-json", None),
    ("not an object", "POST", "interfaces", [], 400, "wrong-type", None),
    ("unknown field", "POST", "interfaces", {"name": "x", "speed": 10}, 400, "unknown-field",
     "speed"),
    ("missing required field", "POST", "segments", {"name": "s", "interface": 1}, 400,
     "missing-field", "prefix"),
    ("duplicate name", "POST", "interfaces", {"name": "eth0"}, 409, "conflict", "name"),
    ("reference to nothing", "POST", "segments",
     {"name": "s", "interface": 42, "prefix": "10.9.0.0/24"}, 422, "unknown-reference",
     "interface"),
    ("bad MAC", "POST", "devices", {"name": "d", "pool": 1, "mac": "zz:00:00:00:00:01",
                                   "address": "10.1.0.50", "mode": "nat"},
     422, "invalid-value", "mac"),
    ("bad address", "POST", "devices", {"name": "d", "pool": 1, "mac": "02:00:00:00:00:09",
                                       "address": "10.1.0", "mode": "nat"},
     422, "invalid-value", "address"),
    ("address outside its segment", "POST", "devices",
     {"name": "d", "pool": 1, "segment": 1, "mac": "02:00:00:00:00:09",
      "address": "10.7.0.1", "mode": "nat"}, 422, "invalid-value", "address"),
    ("chain references a missing device", "POST", "services", service(devices=[9]),
     422, "unknown-reference", "devices[0]"),
    ("device of the wrong function", "POST", "services", service(package=2),
     422, "invalid-value", "devices[0]"),
    ("service IP outside its pool", "POST", "services", service(address="192.0.2.7"),
     422, "invalid-value", "address"),
    ("duplicate service IP and port", "POST", "services",
     service(address="198.51.100.10", ports=[{"protocol": "udp", "port": 10050}]),
     409, "conflict", "ports[0]"),
    ("bad port", "POST", "services", service(ports=[{"protocol": "tcp", "port": 70000}]),
     422, "invalid-value", "ports[0].port"),
    ("bad weight", "POST", "virtual-services",
     {"name": "v", "address": "203.0.113.20", "protocol": "tcp", "port": 80,
      "backends": [{"address": "10.2.0.1", "port": 80, "weight": -1}]},
     422, "invalid-value", "backends[0].weight"),
    ("overlapping client domains", "POST", "virtual-services",
     {"name": "v", "address": "203.0.113.10", "protocol": "tcp", "port": 80,
      "client_domains": ["192.0.2.128/25"],
      "backends": [{"address": "10.2.0.1", "port": 80}]},
     409, "conflict", "client_domains[0]"),
    ("replace with a bad value", "PUT", "devices/1",
     {"name": "fw1", "pool": 1, "mac": "02:00:00:00:00:01", "address": "10.1.0.11",
      "mode": "bridge"}, 422, "invalid-value", "mode"),
    ("patch that breaks a service", "PATCH", "packages/1", {"functions": ["ids"]},
     409, "conflict", None),
    ("delete what is used", "DELETE", "devices/1", None, 409, "in-use", None),
    ("customer-admin without a customer", "POST", "users",
     {"name": "dave", "password": "daves-password", "role": "customer-admin"},
     422, "invalid-value", "customer"),
    ("short password", "POST", "users",
     {"name": "dave", "password": "short", "role": "provider-admin"},
     422, "invalid-value", "password"),
]


def snapshot(p):
    """Everything the API can read back: definitions, users, the version."""
    doc = current(p)
    status, users = p.call("GET", "users", token=p.token)
    assert status == 200
    return doc["version"], doc["document"], users


def test_every_validation_error_is_clear_and_stores_nothing(prov):
    populate(prov)
    assert prov.call("POST", "packages", {"name": "ids-only", "functions": ["ids"]},
                     prov.token)[0] == 201
    before = snapshot(prov)
    for what, method, url, body, status, code, field in REFUSALS:
        headers = {"Authorization": "Bearer " + prov.token}
        if isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode() if body is not None else b""
        got, hdrs, doc = prov.raw(method, "/api/v1/" + url, data, headers)
        assert got == status, (what, got, doc)
        assert hdrs.get("Content-Type") == "application/json", what
        err = doc["error"]
        assert err["code"] == code, (what, err)
        assert err["field"] == field, (what, err)
        assert len(err["message"]) > 5, (what, err)
        assert snapshot(prov) == before, f"{what}: something was stored"


# what a customer admin may not touch: (url of the other customer's object, PATCH body)
OTHERS = [
    ("services/2", {"ports": [{"protocol": "tcp", "port": 8443}]}),
    ("acls/2", {"action": "allow"}),
    ("virtual-services/2", {"algorithm": "rr"}),
]


def test_a_customer_cannot_read_or_change_another_customers(prov):
    t = prov.token
    populate(prov)                                   # customer 1 (acme) and its objects
    steps = [
        ("customers", {"name": "globex"}),
        ("services", {"name": "mail", "customer": 2, "package": 1, "pool": 1,
                      "address": "198.51.100.11", "devices": [1],
                      "ports": [{"protocol": "tcp", "port": 25}]}),
        ("acls", {"service": 2, "position": 1, "action": "deny"}),
        ("virtual-services", {"name": "shop", "customer": 2, "address": "203.0.113.11",
                              "protocol": "tcp", "port": 443,
                              "backends": [{"address": "10.3.0.1", "port": 443}]}),
        ("users", {"name": "gina", "password": "ginas-password", "role": "customer-admin",
                   "customer": 2}),
    ]
    for url, body in steps:
        status, doc = prov.call("POST", url, body, t)
        assert status == 201, (url, doc)
    acme = prov.login("carol", "carols-password")
    globex = prov.login("gina", "ginas-password")
    before = snapshot(prov)
    for token, theirs, mine in ((acme, 2, 1), (globex, 1, 2)):
        for path, change in OTHERS:
            url = path.split("/")[0]
            other = f"{url}/{theirs}"
            for method, body in (("GET", None), ("PATCH", change), ("PUT", change),
                                 ("DELETE", None)):
                status, doc = prov.call(method, other, body, token)
                assert status == 403, (method, other, doc)
                assert doc["error"]["code"] == "forbidden"
            # its own list shows only its own
            status, listed = prov.call("GET", url, token=token)
            assert status == 200 and [o["id"] for o in listed] == [mine], (url, listed)
            status, doc = prov.call("GET", f"{url}/{mine}", token=token)
            assert status == 200, doc
        # an ACL on the other's service, a service for the other customer
        status, doc = prov.call("POST", "acls", {"service": theirs, "position": 7,
                                                 "action": "allow"}, token)
        assert status == 403, doc
        # the provider's resources are the provider's
        for url in ("devices", "customers", "users", "versions"):
            assert prov.call("GET", url, token=token)[0] == 403, url
    assert snapshot(prov) == before
    # and its own it may change
    status, doc = prov.call("PATCH", "acls/1", {"action": "deny"}, acme)
    assert status == 200 and doc["action"] == "deny", doc


def test_rollback_restores_a_previous_version(prov):
    t = prov.token
    populate(prov)
    old = current(prov)
    status, doc = prov.call("DELETE", "acls/1", token=t)
    assert status == 204
    assert prov.call("PATCH", "services/1", {"ports": [{"protocol": "tcp", "port": 8080}]},
                     t)[0] == 200
    assert prov.call("POST", "customers", {"name": "initech"}, t)[0] == 201
    assert current(prov)["document"] != old["document"]
    status, rec = prov.call("POST", f"versions/{old['version']}/rollback", token=t)
    assert status == 201, rec
    assert rec["change"] == f"rollback to {old['version']}"
    now = current(prov)
    assert now["version"] == rec["version"] > old["version"]
    assert now["document"] == old["document"]
    status, acl = prov.call("GET", "acls/1", token=t)
    assert status == 200 and acl["port"] == 22
    # every version is still there, the old one unchanged
    status, versions = prov.call("GET", "versions", token=t)
    assert [v["version"] for v in versions] == list(range(now["version"], 0, -1))
    status, again = prov.call("GET", f"versions/{old['version']}", token=t)
    assert again["document"] == old["document"]
    # rendered for the daemons: the service's chain and the virtual services
    status, pe = prov.call("GET", f"versions/{now['version']}/render/pkt-engine", token=t)
    assert status == 200
    dev = {d["name"]: d for d in pe["devices"]}
    assert [dev[n]["mac"] for n in pe["services"][0]["chain"]] == ["02:00:00:00:00:01"]
    status, sm = prov.call("GET", "versions/current/render/svc-mgr", token=t)
    assert status == 200 and sm["services"][0]["name"] == "www"
    assert sm["services"][0]["type"] == "lb"


def test_restart_keeps_every_committed_change(prov):
    t = prov.token
    populate(prov)
    assert prov.call("DELETE", "nat-pools/1", token=t)[0] == 204
    before = snapshot(prov)
    prov.restart()
    assert snapshot(prov) == before, "after SIGTERM"
    # the token survives too (sessions are in the database)
    assert prov.call("GET", "services/1", token=t)[0] == 200
    assert prov.call("POST", "customers", {"name": "hooli"}, t)[0] == 201
    before = snapshot(prov)
    prov.kill()
    prov.start()
    assert snapshot(prov) == before, "after SIGKILL"
    # the bootstrap admin is not made again over a changed password
    assert prov.call("PATCH", "users/1", {"password": "a-new-admin-password"}, t)[0] == 200
    prov.restart()
    assert prov.call("POST", "login", {"user": "admin", "password": "admin-password-1"})[0] \
        == 401
    prov.login("admin", "a-new-admin-password")


@pytest.mark.parametrize("prov", [{"request_limit": "4K"}], indirect=True)
def test_http_limits_and_errors(prov):
    t = prov.token
    auth = {"Authorization": "Bearer " + t}
    big = b'{"name": "x", "description": "' + b"a" * 8192 + b'"}'
    status, _, doc = prov.raw("POST", "/api/v1/interfaces", big, auth)
    assert status == 413 and doc["error"]["code"] == "too-large", doc
    status, hdrs, doc = prov.raw("DELETE", "/api/v1/interfaces", b"", auth)
    assert status == 405 and hdrs["Allow"] == "GET, POST", doc
    status, hdrs, doc = prov.raw("GET", "/api/v1/interfaces", b"", {})
    assert status == 401 and hdrs.get("WWW-Authenticate") == "Bearer", doc
    status, _, doc = prov.raw("GET", "/api/v1/interfaces", b"", {"Authorization": "Bearer x"})
    assert status == 401, doc
    # outside /api/ is the web UI's (docs/webui.md); inside, JSON errors
    status, _, doc = prov.raw("GET", "/api/v1/nothing", b"", auth)
    assert status == 404 and doc["error"]["code"] == "not-found"
    status, _, doc = prov.raw("POST", "/api/v1/interfaces", b"\xff\xfe", auth)
    assert status == 400 and doc["error"]["code"] == "malformed-json"
    # still serving after all of that
    assert prov.call("POST", "interfaces", {"name": "eth9"}, t)[0] == 201


def test_a_device_with_two_arms_is_rendered_with_both(prov):
    """A router or firewall that hands packets back on its other side: the
    engine sends to mac on the segment's interface and takes them back from
    out_mac on out_segment's (the engine's probes need both)."""
    t = prov.token
    populate(prov)
    assert prov.call("POST", "interfaces", {"name": "eth1"}, t)[0] == 201
    status, inside = prov.call("POST", "segments", {"name": "inside", "interface": 2,
                                                    "prefix": "10.2.0.0/24"}, t)
    assert status == 201, inside
    status, dev = prov.call("PATCH", "devices/1", {"out_segment": inside["id"],
                                                   "out_mac": "02:00:00:00:01:01"}, t)
    assert status == 200 and dev["out_mac"] == "02:00:00:00:01:01", dev
    status, pe = prov.call("GET", "versions/current/render/pkt-engine", token=t)
    fw = next(d for d in pe["devices"] if d["name"] == "fw1")
    assert (fw["interface"], fw["out-interface"], fw["out-mac"]) == \
        ("eth0", "eth1", "02:00:00:00:01:01"), fw
    before = snapshot(prov)
    for change, status, code, field in (
            ({"out_mac": "02:00:00:00:00:01"}, 422, "invalid-value", "out_mac"),  # its mac
            ({"out_segment": 9}, 422, "unknown-reference", "out_segment"),
            ({"out_mac": "01:00:5e:00:00:01"}, 422, "invalid-value", "out_mac")):
        got, doc = prov.call("PATCH", "devices/1", change, t)
        assert got == status and doc["error"]["code"] == code, (change, doc)
        assert doc["error"]["field"] == field, doc
    # another device may not use either MAC
    got, doc = prov.call("POST", "devices", {"name": "fw9", "pool": 1, "segment": 1,
                                             "mac": "02:00:00:00:01:01", "address": "10.1.0.19",
                                             "mode": "alias"}, t)
    assert got == 409 and doc["error"]["field"] == "mac", doc
    got, doc = prov.call("POST", "devices", {"name": "fw9", "pool": 1, "segment": 1,
                                             "mac": "02:00:00:00:00:09", "address": "10.1.0.19",
                                             "mode": "alias", "out_mac": "02:00:00:00:01:01"}, t)
    assert got == 409 and doc["error"]["field"] == "out_mac", doc
    assert snapshot(prov) == before
    # the segment is in use now
    assert prov.call("DELETE", f"segments/{inside['id']}", token=t)[0] == 409
