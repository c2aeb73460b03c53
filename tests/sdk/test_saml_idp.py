"""SAML single sign-on against a real identity provider: pysaml2 (with xmlsec1) as the IdP,
with a key and certificate generated at test time. The admin uploads the IdP's metadata; the
browser's steps are played with `requests` (no redirects followed).
"""
import tempfile
import urllib.parse

import requests

# pysaml2 is pinned in requirements.txt: a missing IdP is a failure, never a skip.
from saml2 import BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.metadata import create_metadata_string  # noqa: E402

from saml_idp import authn_response, identity_provider

IDP_ENTITY = "https://pysaml2-idp.example/metadata"
IDP_SSO = "https://pysaml2-idp.example/sso"
IDENTITY = {"Email": ["sso.person@example.com"], "FirstName": ["Sso"], "LastName": ["Person"]}


def _idp(sp_metadata, directory):
    return identity_provider(sp_metadata, directory, IDP_ENTITY, IDP_SSO)


def _response(idp, sp_entity, acs, in_response_to):
    return authn_response(idp, IDENTITY, sp_entity, acs, in_response_to)


def _post_acs(server, org, saml_response, relay_state=None):
    data = {"SAMLResponse": saml_response}
    if relay_state:
        data["RelayState"] = relay_state
    return requests.post(f"{server.base_url}/saml/{org}/acs", data=data, timeout=20)


def test_pysaml2_identity_provider(server):
    org = str(server.org["organizationId"])
    path = f"/setup/organization/{org}/sso"
    sp_metadata = requests.get(f"{server.base_url}/saml/{org}/metadata", timeout=10).text
    assert "AssertionConsumerService" in sp_metadata
    with tempfile.TemporaryDirectory() as directory:
        idp = _idp(sp_metadata, directory)
        metadata = create_metadata_string(None, config=idp.config).decode()
        # Enforcement off so the admin's password token keeps working for the checks below.
        res = server.api("PUT", path, json={"metadata": metadata, "enforce": False, "allowIdpInitiated": True})
        assert res.status_code == 200, res.text
        sso = server.items(path)[0]
        sp_entity, acs = sso["spEntityId"], sso["acsUrl"]

        # SP-initiated: GET /saml/{org}/login → 302 to the IdP with the AuthnRequest.
        res = requests.get(f"{server.base_url}/saml/{org}/login", allow_redirects=False, timeout=10)
        assert res.status_code == 302, res.text
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(res.headers["Location"]).query))
        assert query["RelayState"] == org
        request = idp.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
        assert request.message.assertion_consumer_service_url == acs
        saml_response = _response(idp, sp_entity, acs, request.message.id)
        res = _post_acs(server, org, saml_response, org)
        assert res.status_code == 200, res.text
        item = res.json()["response"]["items"][0]
        assert item["status"] == "SIGNED_IN" and item["provisioned"] is True
        token = item["accessToken"]
        accounts = server.api("GET", "/setup/account", token)
        assert accounts.status_code == 200, accounts.text

        # Replaying the same POST is refused.
        res = _post_acs(server, org, saml_response, org)
        assert res.status_code == 400
        assert res.json()["response"]["errors"][0]["code"] == "SAML_REJECTED"

        # IdP-initiated (allowed): works.
        res = _post_acs(server, org, _response(idp, sp_entity, acs, None), org)
        assert res.status_code == 200, res.text
        assert res.json()["response"]["items"][0]["provisioned"] is False

        # Turned off: refused.
        res = server.api("PUT", path, json={"allowIdpInitiated": False})
        assert res.status_code == 200, res.text
        res = _post_acs(server, org, _response(idp, sp_entity, acs, None), org)
        assert res.status_code == 400, res.text
        assert res.json()["response"]["errors"][0]["code"] == "SAML_REJECTED"

        # Clean up for the other tests of this module's server: SSO off.
        assert server.api("DELETE", path).status_code == 200
