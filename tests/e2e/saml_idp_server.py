"""A SAML identity provider a browser can use, for the console's browser test: pysaml2 behind
a small HTTP server on loopback. It signs in one person without asking (the test decides who),
answering the AuthnRequest of the service provider it was given:

  GET  /metadata        the IdP's metadata (upload it in the console's Identity providers page)
  POST /sp              the service provider's metadata (from /saml/{org}/metadata)
  GET  /sso?SAMLRequest=…&RelayState=…   an auto-submitting form that posts the signed
                        response to the SP's ACS

Usage: saml_idp_server.py PORT EMAIL FIRST LAST   (prints "ready" once listening)
"""
import html
import os
import sys
import tempfile
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sdk"))
from saml2 import BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.metadata import create_metadata_string  # noqa: E402

from saml_idp import authn_response, identity_provider  # noqa: E402

PORT = int(sys.argv[1])
IDENTITY = {"Email": [sys.argv[2]], "FirstName": [sys.argv[3]], "LastName": [sys.argv[4]]}
ENTITY = f"http://127.0.0.1:{PORT}/metadata"
SSO = f"http://127.0.0.1:{PORT}/sso"
DIRECTORY = tempfile.mkdtemp(prefix="orgplane-e2e-idp-")
state = {"idp": identity_provider(None, DIRECTORY, ENTITY, SSO)}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body, kind="text/html; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/metadata":
            metadata = create_metadata_string(None, config=state["idp"].config).decode()
            return self._answer(200, metadata, "application/samlmetadata+xml")
        if url.path == "/sso":
            query = dict(urllib.parse.parse_qsl(url.query))
            idp = state["idp"]
            request = idp.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT).message
            acs = request.assertion_consumer_service_url
            response = authn_response(idp, IDENTITY, request.issuer.text, acs, request.id)
            relay = html.escape(query.get("RelayState", ""))
            page = (
                "<!doctype html><title>Test IdP</title><body><p>Signing you in…</p>"
                f'<form method="post" action="{html.escape(acs)}">'
                f'<input type="hidden" name="SAMLResponse" value="{response}">'
                f'<input type="hidden" name="RelayState" value="{relay}"></form>'
                "<script>document.forms[0].submit()</script></body>"
            )
            return self._answer(200, page)
        return self._answer(404, "not found", "text/plain")

    def do_POST(self):
        if self.path != "/sp":
            return self._answer(404, "not found", "text/plain")
        sp_metadata = self.rfile.read(int(self.headers["Content-Length"])).decode()
        state["idp"] = identity_provider(sp_metadata, DIRECTORY, ENTITY, SSO)
        return self._answer(200, "ok", "text/plain")


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
