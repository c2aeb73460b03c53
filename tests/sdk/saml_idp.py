"""pysaml2 as a SAML identity provider for tests: a key and self-signed certificate made at
test time, an IdP that knows one service provider (from its metadata), and signed responses
carrying Spot's plain attribute names (Email, FirstName, LastName). Used by the SSO test of
the API (test_saml_idp.py) and by the browser test's IdP server (tests/e2e/saml_idp_server.py).
"""
import base64
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server as SamlServer
from saml2.sigver import get_xmlsec_binary
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256


def key_and_cert(directory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pysaml2-idp.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256())
    )
    key_file, cert_file = os.path.join(directory, "idp.key"), os.path.join(directory, "idp.crt")
    if not os.path.exists(key_file):
        with open(key_file, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
        with open(cert_file, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def identity_provider(sp_metadata, directory, entity, sso_url):
    """An IdP for the service provider described by `sp_metadata` (None: no SP yet)."""
    key_file, cert_file = key_and_cert(directory)
    conf = IdPConfig()
    conf.load({
        "entityid": entity,
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                   "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"}},
        }},
        "key_file": key_file,
        "cert_file": cert_file,
        "metadata": {"inline": [sp_metadata]} if sp_metadata else {},
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
    })
    return SamlServer(config=conf)


def authn_response(idp, identity, sp_entity, acs, in_response_to):
    """A signed SAML Response (base64) for `identity`, answering `in_response_to` (None: unsolicited)."""
    email = identity["Email"][0]
    xml = idp.create_authn_response(
        identity, in_response_to, acs, sp_entity,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
        userid=email, sign_assertion=True, sign_response=False,
        sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
    )
    return base64.b64encode(str(xml).encode()).decode()
