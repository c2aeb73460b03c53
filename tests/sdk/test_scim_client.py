"""SCIM 2.0 over real HTTP against the orgplane binary, the way an IdP's provisioning client (Okta,
Entra ID) drives it: test the credentials, look people up by userName, create, update,
deactivate, reactivate, push groups, and a Bulk request; malformed filters and PATCH paths are
SCIM 400s, never 500s."""
import urllib.parse

import requests

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class Scim:
    def __init__(self, server, token):
        self.base = server.base_url + "/scim/v2"
        self.session = requests.Session()
        self.session.headers.update({"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"})

    def __call__(self, method, path, body=None, **headers):
        return self.session.request(method, self.base + path, json=body, headers=headers, timeout=10)

    def find(self, email):
        res = self("GET", "/Users?filter=" + urllib.parse.quote(f'userName eq "{email}"'))
        assert res.status_code == 200, res.text
        return res.json()


def scim_client(server):
    org = server.org["organizationId"]
    res = server.api("POST", f"/setup/organization/{org}/scim/token", json={"description": "IdP provisioning"})
    assert res.status_code == 200, res.text
    return Scim(server, res.json()["response"]["items"][0]["token"])


def test_an_idp_provisions_updates_and_deprovisions_people(server):
    scim = scim_client(server)
    # "Test API credentials"
    spc = scim("GET", "/ServiceProviderConfig")
    assert spc.status_code == 200 and spc.headers["Content-Type"] == "application/scim+json"
    assert spc.json()["filter"]["supported"] is True

    assert scim.find("ida@example.com")["totalResults"] == 0
    body = {"schemas": [USER], "userName": "ida@example.com", "externalId": "00u1",
            "name": {"givenName": "Ida", "familyName": "Idp"}, "emails": [{"value": "ida@example.com", "primary": True}],
            "active": True, "roles": [{"value": "Viewer", "primary": True}]}
    created = scim("POST", "/Users", body)
    assert created.status_code == 201, created.text
    user = created.json()
    assert created.headers["Location"] == user["meta"]["location"]
    assert scim.find("IDA@example.com")["Resources"][0]["id"] == user["id"]

    # The person is a Spot user of the organization.
    emails = [u.get("email") for u in server.items("/setup/organization/user")]
    assert "ida@example.com" in emails

    # Profile update with the ETag, then a stale writer is refused.
    body["name"]["familyName"] = "Renamed"
    updated = scim("PUT", f"/Users/{user['id']}", body, **{"If-Match": created.headers["ETag"]})
    assert updated.status_code == 200 and updated.json()["name"]["familyName"] == "Renamed"
    stale = scim("PUT", f"/Users/{user['id']}", body, **{"If-Match": created.headers["ETag"]})
    assert stale.status_code == 412 and stale.json()["schemas"] == [ERROR]

    # Deactivate: no longer in the organization; reactivate: back.
    off = scim("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]})
    assert off.status_code == 200 and off.json()["active"] is False
    assert "ida@example.com" not in [u.get("email") for u in server.items("/setup/organization/user")]
    on = scim("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]})
    assert on.status_code == 200 and on.json()["active"] is True

    # Group push.
    group = scim("POST", "/Groups", {"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": user["id"]}]})
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    spot_groups = server.items("/setup/access/userGroup")
    assert any(g["id"] == gid and g["name"] == "Engineering" for g in spot_groups)
    removed = scim("PATCH", f"/Groups/{gid}", {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{user["id"]}"]'}]})
    assert removed.status_code == 200 and removed.json()["members"] == []

    # Bulk: a person and a group naming them.
    bulk = scim("POST", "/Bulk", {"schemas": [BULK], "Operations": [
        {"method": "POST", "bulkId": "p", "path": "/Users", "data": {"schemas": [USER], "userName": "bulk@example.com", "name": {"givenName": "Bulk"}}},
        {"method": "POST", "bulkId": "g", "path": "/Groups", "data": {"schemas": [GROUP], "displayName": "Bulk team", "members": [{"value": "bulkId:p"}]}},
    ]})
    assert bulk.status_code == 200, bulk.text
    assert [op["status"] for op in bulk.json()["Operations"]] == ["201", "201"]

    # Deprovision for good.
    assert scim("DELETE", f"/Users/{user['id']}").status_code == 204
    assert scim("GET", f"/Users/{user['id']}").status_code == 404


def test_malformed_requests_are_scim_errors_not_server_errors(server):
    scim = scim_client(server)
    person = scim("POST", "/Users", {"schemas": [USER], "userName": "mal@example.com", "name": {"givenName": "Mal"}}).json()
    filters = ['userName eq', 'userName eq "unterminated', 'title eq "x"', '(userName eq "a"', 'userName eq "a" or',
               'emails[type eq "work"', 'active gt true', 'meta.created gt "yesterday"', "x" * 5000, 'a.b.c eq 1']
    for f in filters:
        res = scim("GET", "/Users?filter=" + urllib.parse.quote(f))
        assert res.status_code == 400, (f, res.text)
        assert res.json()["scimType"] == "invalidFilter", (f, res.text)
    paths = ['name..givenName', 'emails[value eq "x"', '', 'emails[value zz "x"].value', 'urn:bad:', '[x]']
    for p in paths:
        res = scim("PATCH", f"/Users/{person['id']}", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": p, "value": "x"}]})
        assert res.status_code == 400, (p, res.text)
        assert res.json()["scimType"] in ("invalidPath", "noTarget"), (p, res.text)
    res = scim.session.post(scim.base + "/Users", data=b"\xff\xfe not json", timeout=10)
    assert res.status_code == 400 and res.json()["scimType"] == "invalidSyntax"
    big = scim("POST", "/Users", {"schemas": [USER], "userName": "big@example.com", "name": {"givenName": "x" * 2_000_000}})
    assert big.status_code == 413
    unauthenticated = requests.get(scim.base + "/Users", timeout=10)
    assert unauthenticated.status_code == 401 and unauthenticated.json()["schemas"] == [ERROR]
