"""Keys and tokens for the auth variants of the benchmarks.

HS256: a shared secret (``AUTH_SECRET``), tokens minted with ``sanicms.auth.mint``. RS256: a
2048-bit RSA key made here; its public half is served as a JWKS by a tiny HTTP server on
loopback (``AUTH_JWKS_URL``), which the service fetches at start and then keeps cached
(``AUTH_JWKS_TTL``, 300 s by default). Tokens carry the scope the city service asks of a
read, ``city:read``, and live long enough for the longest run.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from sanicms.auth import mint

HS256_SECRET = "bench-secret-" + "s" * 40  # 32 bytes at least, as the library requires
SCOPES = ("city:read",)
TOKEN_TTL = 12 * 3600
KID = "bench-rs256"


def hs256_token(scopes=SCOPES) -> str:
    return mint(scopes, subject="bench", ttl=TOKEN_TTL, secret=HS256_SECRET)


class JwksServer:
    """An RSA key pair; the public key as a JWKS at ``url``; ``fetches`` counts GETs."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        body = json.dumps({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="jwks")

    def start(self) -> JwksServer:
        self._thread.start()
        return self

    def token(self, scopes=SCOPES) -> str:
        now = int(time.time())
        claims = {"sub": "bench", "scope": " ".join(scopes), "iat": now, "exp": now + TOKEN_TTL}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": KID})

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
