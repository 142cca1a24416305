"""A real OpenID Connect issuer on loopback for the sign-in tests: discovery, JWKS, authorize and
token endpoints, RS256 ID tokens. allauth talks to it over HTTP exactly as it talks to Google or
Microsoft; each test says which claims (or which key) the next ID token gets."""

import json
import secrets
import threading
import time
import uuid
from base64 import urlsafe_b64encode
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

KID = "test-key-1"
CLIENTS = {"google-client": "google-secret", "microsoft-client": "microsoft-secret"}


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Issuer:
    def __init__(self):
        self.key = _key()
        self.rogue_key = _key()  # same kid, not published: a token signed with it has a bad signature
        self.codes: dict[str, dict] = {}
        self.next_claims: dict = {}  # merged into the next ID token (None removes a claim)
        self.sign_with_rogue_key = False
        self.token_requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def discovery(self) -> dict:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        }

    def jwks(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def id_token(self, *, client_id: str, nonce: str | None) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "subject-1",
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "email": "someone@example.com",
            "email_verified": True,
            "name": "Some One",
        }
        if nonce:
            claims["nonce"] = nonce
        claims.update(self.next_claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.rogue_key if self.sign_with_rogue_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})

    def authorize(self, query: dict) -> tuple[int, dict]:
        if query.get("client_id") not in CLIENTS or query.get("response_type") != "code":
            return 400, {"error": "invalid_request"}
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
        return 302, {"Location": target}

    def token(self, form: dict) -> tuple[int, dict]:
        self.token_requests.append(form)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if (
            CLIENTS.get(form.get("client_id", "")) != form.get("client_secret")
            or grant["client_id"] != form["client_id"]
        ):
            return 401, {"error": "invalid_client"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        if grant.get("code_challenge"):  # PKCE (S256): the verifier must hash to the challenge
            digest = urlsafe_b64encode(sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=").decode()
            if digest != grant["code_challenge"]:
                return 400, {"error": "invalid_grant"}
        id_token = self.id_token(client_id=form["client_id"], nonce=grant.get("nonce"))
        return 200, {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }

    def _handler(self):
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body=None, headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                data = json.dumps(body).encode() if body is not None else b""
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._send(200, issuer.discovery())
                elif url.path == "/jwks":
                    self._send(200, issuer.jwks())
                elif url.path == "/authorize":
                    status, out = issuer.authorize(query)
                    self._send(status, None, out) if status == 302 else self._send(status, out)
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlparse(self.path).path == "/token":
                    self._send(*issuer.token(form))
                else:
                    self._send(404, {"error": "not_found"})

        return Handler


@pytest.fixture
def oidc_issuer():
    issuer = Issuer().start()
    try:
        yield issuer
    finally:
        issuer.stop()


def provider_apps(issuer_url: str) -> dict:
    """SOCIALACCOUNT_PROVIDERS as hashinsight/settings.py builds it, both apps at the test issuer."""
    from django.conf import settings

    base = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]
    apps = [
        {
            "provider_id": provider_id,
            "name": provider_id.title(),
            "client_id": f"{provider_id}-client",
            "secret": f"{provider_id}-secret",
            "settings": {"server_url": issuer_url, "fetch_userinfo": False},
        }
        for provider_id in ("google", "microsoft")
    ]
    return {"openid_connect": {**base, "APPS": apps}}
