"""SAML single sign-on against a real identity provider: pysaml2 (with xmlsec1) as the IdP,
with a key and certificate generated at test time. The admin uploads the IdP's metadata; the
browser's steps are played with `requests` (no redirects followed).
"""
import base64
import datetime
import os
import tempfile
import urllib.parse

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# pysaml2 is pinned in requirements.txt: a missing IdP is a failure, never a skip.
from saml2 import BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.metadata import create_metadata_string  # noqa: E402
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID  # noqa: E402
from saml2.server import Server as SamlServer  # noqa: E402
from saml2.sigver import get_xmlsec_binary  # noqa: E402
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256  # noqa: E402

IDP_ENTITY = "https://pysaml2-idp.example/metadata"
IDP_SSO = "https://pysaml2-idp.example/sso"


def _key_and_cert(directory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pysaml2-idp.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256())
    )
    key_file, cert_file = os.path.join(directory, "idp.key"), os.path.join(directory, "idp.crt")
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def _idp(sp_metadata, directory):
    key_file, cert_file = _key_and_cert(directory)
    conf = IdPConfig()
    conf.load({
        "entityid": IDP_ENTITY,
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(IDP_SSO, BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                   "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"}},
        }},
        "key_file": key_file,
        "cert_file": cert_file,
        "metadata": {"inline": [sp_metadata]},
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
    })
    return SamlServer(config=conf)


IDENTITY = {"Email": ["sso.person@example.com"], "FirstName": ["Sso"], "LastName": ["Person"]}


def _response(idp, sp_entity, acs, in_response_to):
    xml = idp.create_authn_response(
        IDENTITY, in_response_to, acs, sp_entity,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=IDENTITY["Email"][0]),
        userid=IDENTITY["Email"][0], sign_assertion=True, sign_response=False,
        sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
    )
    return base64.b64encode(str(xml).encode()).decode()


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
