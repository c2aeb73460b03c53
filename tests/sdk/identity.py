"""Local identity providers for the setup_azure and setup_gcp clients: a real HTTP server that
checks a client secret as Azure AD does (AADSTS codes) and an RS256 JWT signature as Google's
token endpoint does, with the service account's public key."""
import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0f3c1b2a-1111-4222-8333-444455556666"
SECRET = "Zx8Q~sdk-client-secret-0123456789"
SUBSCRIPTION = "a1b2c3d4-0000-4000-8000-00000000abcd"
CLIENT_EMAIL = "orgplane@orgplane-sdk-123.iam.gserviceaccount.com"


def _b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class IdentityProviders:
    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        self.issued = set()
        self.gcp_exchanges = 0
        providers = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
                if self.path == f"/{TENANT}/oauth2/v2.0/token":
                    if form.get("client_id") != CLIENT:
                        return self._answer(400, {"error": "unauthorized_client", "error_codes": [700016],
                                                  "error_description": "AADSTS700016: Application not found."})
                    if form.get("client_secret") != SECRET:
                        return self._answer(401, {"error": "invalid_client", "error_codes": [7000215],
                                                  "error_description": "AADSTS7000215: Invalid client secret provided."})
                    token = "azure-" + uuid.uuid4().hex
                    providers.issued.add(token)
                    return self._answer(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token})
                if self.path.endswith("/oauth2/v2.0/token"):
                    return self._answer(400, {"error": "invalid_request", "error_codes": [90002],
                                              "error_description": "AADSTS90002: Tenant not found."})
                if self.path == "/token":
                    return self._gcp(form)
                self._answer(404, {"error": "not_found"})

            def _gcp(self, form):
                try:
                    header, claims, signature = form["assertion"].split(".")
                    providers.key.public_key().verify(_b64url_decode(signature), f"{header}.{claims}".encode(),
                                                      padding.PKCS1v15(), hashes.SHA256())
                    claims = json.loads(_b64url_decode(claims))
                    assert json.loads(_b64url_decode(header))["alg"] == "RS256"
                    assert claims["iss"] == CLIENT_EMAIL and claims["aud"] == f"http://{self.headers['Host']}/token"
                except Exception as e:  # a bad signature or claim is Google's invalid_grant
                    return self._answer(400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {e!r}"})
                providers.gcp_exchanges += 1
                self._answer(200, {"access_token": "ya29." + uuid.uuid4().hex, "expires_in": 3599, "token_type": "Bearer"})

            def do_GET(self):
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in providers.issued:
                    return self._answer(401, {"error": {"code": "InvalidAuthenticationToken"}})
                if self.path.startswith(f"/subscriptions/{SUBSCRIPTION}?"):
                    return self._answer(200, {"subscriptionId": SUBSCRIPTION, "state": "Enabled"})
                self._answer(403, {"error": {"code": "AuthorizationFailed"}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = "http://" + self.host
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
