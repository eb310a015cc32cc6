# SPDX-License-Identifier: LGPL-2.1-or-later
"""Replicas, trials and cut-over through the REST API (feature C10,
docs/provisioner.md "Replicas, trials and cut-over"), on a provisioner with
no engine: every trial fails for want of one, which is what a cut-over must
refuse. The trial through real devices is in test_prov_push_engine.py."""
from test_prov_api import populate, snapshot

FW2 = {"name": "fw2", "pool": 1, "segment": 1, "mac": "02:00:00:00:00:02",
       "address": "10.1.0.12", "mode": "nat"}


def test_replica_copies_the_service_and_its_acls(prov):
    t = prov.token
    populate(prov)
    status, rep = prov.call("POST", "services/1/replicate",
                            {"name": "web-v2", "address": "198.51.100.20"}, t)
    assert status == 201, rep
    status, orig = prov.call("GET", "services/1", token=t)
    for k in ("customer", "package", "pool", "devices", "order", "ports"):
        assert rep[k] == orig[k], k
    assert rep["name"] == "web-v2" and rep["address"] == "198.51.100.20"
    assert rep["id"] != orig["id"]
    status, acls = prov.call("GET", "acls", token=t)
    mine = [a for a in acls if a["service"] == rep["id"]]
    theirs = [a for a in acls if a["service"] == 1]
    assert len(mine) == len(theirs) == 1
    strip = lambda a: {k: v for k, v in a.items() if k not in ("id", "service")}  # noqa: E731
    assert strip(mine[0]) == strip(theirs[0])
    # one version for the replica and its ACLs
    status, versions = prov.call("GET", "versions", token=t)
    assert versions[0]["change"] == f"replicate services 1 as {rep['id']}"
    assert versions[1]["change"] != versions[0]["change"]


def test_replica_errors_store_nothing(prov):
    t = prov.token
    populate(prov)
    before = snapshot(prov)
    for body, status, code, field in (
            ({"name": "web-v2", "address": "192.0.2.1"}, 422, None, None),  # outside the pool
            ({"name": "web", "address": "198.51.100.20"}, 409, None, None),  # a taken name
            ({"name": "web-v2"}, 400, "missing-field", "address"),
            ({"address": "198.51.100.20"}, 400, "missing-field", "name"),
            ({"name": "web-v2", "address": "198.51.100.20", "devices": [1]}, 400,
             "unknown-field", "devices")):
        got, doc = prov.call("POST", "services/1/replicate", body, t)
        assert got == status, (body, doc)
        if code:
            assert doc["error"]["code"] == code and doc["error"]["field"] == field, doc
    assert prov.call("POST", "services/9/replicate",
                     {"name": "x", "address": "198.51.100.21"}, t)[0] == 404
    assert snapshot(prov) == before


def test_cutover_needs_a_passed_trial_of_the_chain_as_it_is(prov):
    t = prov.token
    populate(prov)
    assert prov.call("POST", "devices", FW2, t)[0] == 201
    status, rep = prov.call("POST", "services/1/replicate",
                            {"name": "web-v2", "address": "198.51.100.20"}, t)
    assert status == 201
    r = rep["id"]
    assert prov.call("PATCH", f"services/{r}", {"devices": [2]}, t)[0] == 200
    # never tried
    status, doc = prov.call("POST", "services/1/cutover", {"from": r}, t)
    assert status == 409 and "never tried" in doc["error"]["message"], doc
    # tried, but there is no engine to try it on: the trial fails and says why
    status, trial = prov.call("POST", f"services/{r}/trials", token=t)
    assert status == 202, trial
    assert trial["state"] == "failed" and trial["port"] == 80
    assert trial["service"] == r and trial["chain"]["devices"] == [2]
    assert "no engine" in trial["report"]["reason"]
    status, doc = prov.call("POST", "services/1/cutover", {"from": r}, t)
    assert status == 409 and "failed" in doc["error"]["message"], doc
    # a trial of a port the service does not have, of a UDP-only service
    assert prov.call("POST", f"services/{r}/trials", {"port": 81}, t)[0] == 422
    assert prov.call("POST", f"services/{r}/trials", {"colour": 1}, t)[0] == 400
    status, listed = prov.call("GET", "trials", token=t)
    assert [x["id"] for x in listed] == [trial["id"]]
    assert prov.call("GET", f"trials/{trial['id']}", token=t)[1] == trial
    # bad bodies
    for body, code in (({}, "missing-field"), ({"from": "two"}, "wrong-type"),
                       ({"from": 1}, "invalid-value"), ({"from": r, "force": "yes"},
                                                        "wrong-type")):
        status, doc = prov.call("POST", "services/1/cutover", body, t)
        assert doc["error"]["code"] == code, (body, doc)
    assert prov.call("POST", "services/1/cutover", {"from": 99}, t)[0] == 404
    # a customer may not force it; the provider may
    acme = prov.login("carol", "carols-password")
    status, doc = prov.call("POST", "services/1/cutover", {"from": r, "force": True}, acme)
    assert status == 403, doc
    status, versions = prov.call("GET", "versions", token=t)
    before = versions[0]["version"]
    status, cut = prov.call("POST", "services/1/cutover", {"from": r, "force": True}, t)
    assert status == 200, cut
    assert cut["devices"] == [2] and cut["address"] == "198.51.100.10" and cut["name"] == "web"
    status, versions = prov.call("GET", "versions", token=t)
    assert versions[0]["change"] == f"cut over services 1 to the chain of {r} (forced)"
    # the engine's document has the original address through the new device
    status, pe = prov.call("GET", "versions/current/render/pkt-engine", token=t)
    web = next(s for s in pe["services"] if s["name"] == "web")
    assert web["address"] == "198.51.100.10" and web["chain"] == ["fw2"]
    # a rollback takes it back
    assert prov.call("POST", f"versions/{before}/rollback", token=t)[0] == 201
    assert prov.call("GET", "services/1", token=t)[1]["devices"] == [1]
    # the trials are a record, not definitions: a rollback and a deletion keep them
    assert prov.call("GET", f"trials/{trial['id']}", token=t)[1] == trial
    assert prov.call("DELETE", f"services/{r}", token=t)[0] == 204
    assert prov.call("GET", f"trials/{trial['id']}", token=t)[1] == trial
    acme = prov.login("carol", "carols-password")
    assert prov.call("GET", f"trials/{trial['id']}", token=acme)[0] == 403


def test_customers_replicate_and_try_only_their_own(prov):
    t = prov.token
    populate(prov)
    assert prov.call("POST", "customers", {"name": "globex"}, t)[0] == 201
    assert prov.call("POST", "services", {
        "name": "mail", "customer": 2, "package": 1, "pool": 1, "address": "198.51.100.11",
        "devices": [1], "ports": [{"protocol": "tcp", "port": 25}]}, t)[0] == 201
    status, trial = prov.call("POST", "services/2/trials", token=t)
    assert status == 202
    acme = prov.login("carol", "carols-password")
    before = snapshot(prov)
    assert prov.call("POST", "services/2/replicate",
                     {"name": "mail2", "address": "198.51.100.30"}, acme)[0] == 403
    assert prov.call("POST", "services/2/trials", token=acme)[0] == 403
    assert prov.call("POST", "services/1/cutover", {"from": 2}, acme)[0] == 403
    assert prov.call("GET", f"trials/{trial['id']}", token=acme)[0] == 403
    assert prov.call("GET", "trials", token=acme)[1] == []
    assert snapshot(prov) == before
    # its own service it may replicate and try
    status, rep = prov.call("POST", "services/1/replicate",
                            {"name": "web-v2", "address": "198.51.100.20"}, acme)
    assert status == 201 and rep["customer"] == 1, rep
    status, mine = prov.call("POST", f"services/{rep['id']}/trials", token=acme)
    assert status == 202
    assert [x["id"] for x in prov.call("GET", "trials", token=acme)[1]] == [mine["id"]]
    # a replica of another customer's service cannot be cut over into this one
    status, doc = prov.call("POST", "services/1/cutover", {"from": 2, "force": True}, t)
    assert status == 409 and "another customer" in doc["error"]["message"], doc
