"""Access control: bearer tokens checked, scopes enforced, attacks refused with RFC 6750
answers in the unified envelope, keys from a real JWKS server on loopback."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import subprocess
import sys
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sanic import Blueprint, Sanic

import sanicms
from sanicms import auth
from sanicms.config import ConfigError
from sanicms.errors import ErrorCode
from sanicms.logs import JsonFormatter, TraceContextFilter
from sanicms.testing import LiveServer

SECRET = "test-secret-that-is-long-enough-for-hs256!"
DEAD_DB = "postgresql://nobody@127.0.0.1:1/none"


def notes_blueprint():
    bp = Blueprint("notes", url_prefix="/notes")

    @bp.get("/")
    async def list_notes(request):
        logging.getLogger("notes").info("listing notes")
        return {"subject": request.ctx.principal.subject}

    @bp.post("/")
    async def add_note(request):
        return sanicms.respond({"ok": True}, status=201)

    @bp.delete("/")
    @auth.require("notes:admin")
    async def drop_notes(request):
        return {"dropped": True}

    @bp.get("/open")
    @auth.public
    async def open_note(request):
        logging.getLogger("notes").info("reading the open note")
        return {"open": True}
    return bp


def build(**overrides) -> Sanic:
    Sanic.test_mode = True
    settings = sanicms.load_settings(environ={}, overrides={
        "SERVICE_NAME": "notes", "DATABASE_URL": DEAD_DB, "DB_POOL_MIN_SIZE": 0, "AUTH_ENABLED": True,
        "TRACING_ENABLED": False, **overrides})
    return sanicms.create_app(settings, [notes_blueprint()])


def token(key=SECRET, algorithm="HS256", *, scope="notes:read", ttl=60, headers=None, **claims) -> str:
    now = int(time.time())
    payload = {"sub": "ann", "scope": scope, "iat": now, "exp": None if ttl is None else now + ttl, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm=algorithm,
                      headers=headers)


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture(scope="module")
def server():
    live = LiveServer(build(AUTH_SECRET=SECRET, AUTH_ISSUER="https://id.example", AUTH_AUDIENCE="notes",
                            AUTH_MAX_TOKEN_BYTES=4096))
    live.start()
    yield live
    live.stop()


def good(**claims) -> str:
    return token(iss="https://id.example", aud="notes", **claims)


def assert_refused(res, status=401, error="invalid_token"):
    assert res.status_code == status, res.text
    body = res.json()
    assert (body["code"] == status and set(body) == {"code", "message", "error"}) or body["code"] == status
    challenge = res.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="notes"')
    if error:
        assert f'error="{error}"' in challenge
    else:
        assert "error=" not in challenge
    return body


def test_a_valid_token_with_the_scope_passes_and_names_the_caller(server):
    res = server.request("GET", "/notes", headers=bearer(good()))
    assert res.status_code == 200, res.text
    assert res.json()["data"] == {"subject": "ann"}


def test_no_token_is_a_401_without_an_error_code(server):
    body = assert_refused(server.request("GET", "/notes"), error=None)
    assert body["message"] == "authentication required"


@pytest.mark.parametrize("header", ["Basic YW5uOnNlY3JldA==", "Token abc.def.ghi", "abc.def.ghi"])
def test_credentials_of_another_scheme_are_no_token_not_a_bad_one(server, header):
    # RFC 6750: a request without bearer credentials gets no error code; they are not decoded.
    body = assert_refused(server.request("GET", "/notes", headers={"Authorization": header}), error=None)
    assert body["message"] == "authentication required"


UPLOAD = b"POST /notes HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"


def test_an_upload_without_a_token_is_refused_before_the_body_is_read(server):
    """No "100 Continue" for a 3 MB body that would be refused anyway: the 401 comes first,
    and the connection closes without Sanic waiting for the body."""
    answer = server.raw(UPLOAD + b"expect: 100-continue\r\ncontent-length: 3000000\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 "), answer[:200]  # not "HTTP/1.1 100 Continue"
    assert json.loads(body)["message"] == "authentication required"


def test_an_upload_without_a_token_sent_whole_is_read_then_refused(server):
    # Closing on an unread body could reset the connection before the client reads the 401.
    answer = server.raw(UPLOAD + b"content-length: 900000\r\nconnection: close\r\n\r\n" + b" " * 900_000)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    res = server.request("POST", "/notes", json={"a": 1}, headers=bearer(good(scope="notes:write")))
    assert res.status_code == 201, res.text  # with a token, the body is read and handled


def test_a_token_in_the_query_string_is_not_read(server):
    assert_refused(server.request("GET", "/notes", params={"access_token": good()}), error=None)


def test_a_missing_scope_is_a_403_naming_the_scope(server):
    res = server.request("POST", "/notes", headers=bearer(good()), json={})
    body = assert_refused(res, status=403, error="insufficient_scope")
    assert 'scope="notes:write"' in res.headers["www-authenticate"]
    assert body["error"] == {"required": ["notes:write"]}
    assert server.request("POST", "/notes", headers=bearer(good(scope="notes:write")), json={}).status_code == 201


def test_a_handler_can_ask_for_its_own_scope_or_be_public(server):
    res = server.request("DELETE", "/notes", headers=bearer(good(scope="notes:read notes:write")))
    assert_refused(res, status=403, error="insufficient_scope")
    assert server.request("DELETE", "/notes", headers=bearer(good(scope="notes:admin"))).status_code == 200
    assert server.request("GET", "/notes/open").status_code == 200


def test_health_and_docs_stay_open(server):
    assert server.request("GET", "/healthz").status_code == 200
    assert server.request("GET", "/openapi/spec.json").status_code == 200


def test_unknown_routes_are_404_not_401(server):
    assert server.request("GET", "/nope").status_code == 404


def tampered(value: str) -> str:
    head, payload, signature = value.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "notes:read notes:write notes:admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def unsigned(**claims) -> str:
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    now = int(time.time())
    body = {"sub": "eve", "scope": "notes:read", "exp": now + 60, "iss": "https://id.example", "aud": "notes", **claims}
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{head}.{payload}."


ATTACKS = {
    "malformed header": {"Authorization": "Bearer"},
    "garbage": bearer("not.a.token"),
    "alg none": bearer(unsigned()),
    "expired": bearer(good(ttl=-3600)),
    "not yet valid": bearer(good(nbf=int(time.time()) + 3600)),
    "no exp": bearer(token(iss="https://id.example", aud="notes", ttl=None)),
    "wrong issuer": bearer(token(iss="https://evil.example", aud="notes")),
    "wrong audience": bearer(token(iss="https://id.example", aud="billing")),
    "wrong key": bearer(token(key="another-secret-that-is-long-enough-for-hs256", iss="https://id.example",
                              aud="notes")),
    "tampered payload": bearer(tampered(good())),
    "5 KB token": bearer(good(padding="x" * 3_600)),  # over AUTH_MAX_TOKEN_BYTES, refused unread
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attacks_are_401s_in_the_envelope_and_write_nothing(server, attack):
    for method in ("GET", "POST", "DELETE"):
        res = server.request(method, "/notes", headers=ATTACKS[attack], json={})
        body = assert_refused(res)
        assert body["message"] == "invalid token"  # the same words whatever check failed
        assert "Traceback" not in res.text


class Lines(logging.Handler):
    """Formats each record when it is emitted, inside the request, as a log shipper would."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict] = []
        self.setFormatter(JsonFormatter())
        self.addFilter(TraceContextFilter("notes"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_a_16_kb_token_is_refused_by_the_header_limit_in_the_envelope(server):
    res = server.request("GET", "/notes", headers=bearer(good(padding="x" * 16_000)))
    assert res.status_code == 413 and res.json()["code"] == 413  # Sanic's 8 KB header limit, before routing


def test_the_subject_is_in_the_log_lines_of_the_request(server):
    handler, logger = Lines(), logging.getLogger("notes")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        server.request("GET", "/notes", headers=bearer(good(sub="ann")))
        server.request("GET", "/notes/open")
    finally:
        logger.removeHandler(handler)
    (line,) = [x for x in handler.lines if x["message"] == "listing notes"]
    assert line["subject"] == "ann"


def test_the_next_request_on_a_kept_alive_connection_does_not_inherit_the_caller(server):
    # One connection, two requests: the open one must not log the previous caller.
    handler, logger = Lines(), logging.getLogger("notes")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:  # the test client keeps its connection alive between sequential requests
        server.request("GET", "/notes", headers=bearer(good(sub="ann")))
        server.request("GET", "/notes/open")
    finally:
        logger.removeHandler(handler)
    (listed,) = [x for x in handler.lines if x["message"] == "listing notes"]
    (opened,) = [x for x in handler.lines if x["message"] == "reading the open note"]
    assert listed["subject"] == "ann" and "subject" not in opened


def test_subject_reaches_json_lines_through_the_context():
    principal = auth.Principal("ann", frozenset(), {})
    reset = auth.current_principal.set(principal)
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
        assert json.loads(JsonFormatter().format(record))["subject"] == "ann"
    finally:
        auth.current_principal.reset(reset)


# ---- keys from a JWKS URL --------------------------------------------------------------------

class JwksServer:
    """A real HTTP server on loopback serving a JWKS; counts fetches. ``fault`` makes it answer
    badly: ``down`` (503), ``hang`` (no answer until closed), ``garbage`` (not JSON), or
    ``redirect`` (302 to a JWKS it would serve)."""

    def __init__(self, jwks: dict) -> None:
        self.jwks, self.fetches, self.fault = jwks, 0, None
        self.released = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.fetches += 1
                if owner.fault == "hang":
                    owner.released.wait(60)
                    return
                if owner.fault in ("down", "redirect"):
                    self.send_response(503 if owner.fault == "down" else 302)
                    self.send_header("location", "/.well-known/jwks.json?followed=1")
                    self.end_headers()
                    return
                body = b"<html>not json</html>" if owner.fault == "garbage" else json.dumps(owner.jwks).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def jwk_of(private_key, kid: str) -> dict:
    rsa_key = isinstance(private_key, rsa.RSAPrivateKey)
    algorithm = jwt.algorithms.RSAAlgorithm if rsa_key else jwt.algorithms.ECAlgorithm
    return {**algorithm.to_jwk(private_key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


@pytest.fixture(scope="module")
def keys():
    return {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP256R1()),
            "rogue": rsa.generate_private_key(public_exponent=65537, key_size=2048)}


@pytest.fixture
def jwks_app(keys):
    jwks = JwksServer({"keys": [jwk_of(keys["rsa"], "k1"), jwk_of(keys["ec"], "k2")]})
    live = LiveServer(build(AUTH_JWKS_URL=jwks.url, AUTH_JWKS_MIN_REFRESH=3600.0, AUTH_JWKS_TTL=3600.0))
    live.start()
    yield live, jwks
    live.stop()
    jwks.close()


def test_rs256_and_es256_tokens_from_the_jwks_pass(jwks_app, keys):
    live, jwks = jwks_app
    rs256 = token(keys["rsa"], "RS256", headers={"kid": "k1"})
    es256 = token(keys["ec"], "ES256", headers={"kid": "k2"})
    assert live.request("GET", "/notes", headers=bearer(rs256)).status_code == 200
    assert live.request("GET", "/notes", headers=bearer(es256)).status_code == 200
    assert jwks.fetches == 1  # fetched once at start, then cached


def test_an_hs256_token_signed_with_the_public_key_is_refused(jwks_app, keys):
    live, _ = jwks_app
    pem = keys["rsa"].public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    forged = _hmac_token(pem)
    assert_refused(live.request("GET", "/notes", headers=bearer(forged)))


def _hmac_token(secret: bytes) -> str:
    """HS256 with arbitrary bytes as the key (PyJWT refuses PEM keys for HMAC, attackers do not)."""
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps({"sub": "eve", "scope": "notes:read", "exp": int(time.time()) + 60}).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def test_a_flood_of_unknown_kids_fetches_the_jwks_at_most_once(jwks_app, keys):
    live, jwks = jwks_app
    for n in range(20):
        res = live.request("GET", "/notes", headers=bearer(token(keys["rogue"], "RS256", headers={"kid": f"bogus{n}"})))
        assert_refused(res)
    assert jwks.fetches <= 2  # the start-up fetch, and one refetch for the first unknown kid


def test_a_new_key_is_picked_up_when_its_kid_arrives(keys):
    jwks = JwksServer({"keys": [jwk_of(keys["rsa"], "k1")]})
    live = LiveServer(build(AUTH_JWKS_URL=jwks.url, AUTH_JWKS_MIN_REFRESH=0.0))
    live.start()
    try:
        rotated = token(keys["rogue"], "RS256", headers={"kid": "k3"})
        assert_refused(live.request("GET", "/notes", headers=bearer(rotated)))
        jwks.jwks = {"keys": [jwk_of(keys["rsa"], "k1"), jwk_of(keys["rogue"], "k3")]}
        assert live.request("GET", "/notes", headers=bearer(rotated)).status_code == 200
    finally:
        live.stop()
        jwks.close()


def test_with_the_jwks_server_down_cached_keys_pass_and_others_get_a_503(keys):
    jwks = JwksServer({"keys": [jwk_of(keys["rsa"], "k1")]})
    live = LiveServer(build(AUTH_JWKS_URL=jwks.url, AUTH_JWKS_MIN_REFRESH=0.0, AUTH_JWKS_TTL=0.001))
    live.start()
    try:
        jwks.fault = "down"
        cached = token(keys["rsa"], "RS256", headers={"kid": "k1"})
        assert live.request("GET", "/notes", headers=bearer(cached)).status_code == 200
        res = live.request("GET", "/notes", headers=bearer(token(keys["ec"], "ES256", headers={"kid": "k9"})))
        assert res.status_code == 503 and res.json()["code"] == ErrorCode.KEY_SERVER_DOWN
        assert "retry-after" in res.headers
    finally:
        live.stop()
        jwks.close()


@pytest.mark.parametrize("fault", ["hang", "garbage", "redirect"])
def test_a_key_server_that_answers_badly_is_down_and_the_service_starts_anyway(keys, fault):
    jwks = JwksServer({"keys": [jwk_of(keys["rsa"], "k1")]})
    jwks.fault = fault
    live = LiveServer(build(AUTH_JWKS_URL=jwks.url, AUTH_JWKS_MIN_REFRESH=3600.0, AUTH_JWKS_TIMEOUT=0.5))
    live.start()  # the start-up fetch fails: logged, retried when a token needs a key
    try:
        res = live.request("GET", "/notes", headers=bearer(token(keys["rsa"], "RS256", headers={"kid": "k1"})))
        assert res.status_code == 503 and res.json()["code"] == ErrorCode.KEY_SERVER_DOWN
        assert jwks.fetches == 1  # the redirect was not followed
    finally:
        live.stop()
        jwks.close()


FETCH_KEYS = """
import asyncio, sys
from sanicms.auth import JwksKeys

async def main():
    keys = JwksKeys(sys.argv[1], ttl=60.0, min_refresh=1.0, timeout=5.0)
    await keys.open()
    await keys.close()
    return sorted(keys._keys)

print(asyncio.run(main()), "aiohttp" in sys.modules)
"""


def test_fetching_keys_does_not_load_aiohttp(keys):
    # A fresh process: this one has aiohttp loaded by other tests. aiohttp is 9 MiB resident.
    jwks = JwksServer({"keys": [jwk_of(keys["rsa"], "k1")]})
    try:
        out = subprocess.run([sys.executable, "-c", FETCH_KEYS, jwks.url], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    finally:
        jwks.close()
    assert out.strip() == "['k1'] False"


# ---- settings --------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, complaint", [
    ({}, "set exactly one"),
    ({"AUTH_SECRET": SECRET, "AUTH_JWKS_URL": "http://127.0.0.1:9/jwks"}, "set exactly one"),
    ({"AUTH_SECRET": "short"}, "at least 32 bytes"),
    ({"AUTH_SECRET": SECRET, "AUTH_ALGORITHMS": ["RS256"]}, "RS256 cannot be used with a shared secret"),
    ({"AUTH_JWKS_URL": "http://127.0.0.1:9/jwks", "AUTH_ALGORITHMS": ["HS256"]}, "HS256 cannot be used"),
    ({"AUTH_JWKS_URL": "http://127.0.0.1:9/jwks", "AUTH_ALGORITHMS": ["none"]}, "none cannot be used"),
    ({"AUTH_SECRET": SECRET, "AUTH_DEFAULT_POLICY": "open"}, "AUTH_DEFAULT_POLICY"),
])
def test_unsafe_settings_stop_start_up(overrides, complaint):
    with pytest.raises(ConfigError, match=complaint):
        sanicms.load_settings(environ={}, overrides={"DATABASE_URL": DEAD_DB, "AUTH_ENABLED": True, **overrides})


def test_the_token_command_mints_a_token_the_development_key_verifies(capsys, monkeypatch):
    from sanicms.__main__ import main

    monkeypatch.delenv("AUTH_SECRET", raising=False)
    main(["token", "--scope", "city:read", "--scope", "city:write", "--ttl", "120", "--sub", "dana"])
    claims = jwt.decode(capsys.readouterr().out.strip(), auth.DEVELOPMENT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "dana" and claims["scope"] == "city:read city:write"
    assert 110 <= claims["exp"] - claims["iat"] <= 120


def test_the_spec_documents_the_bearer_scheme_and_what_each_operation_needs():
    from openapi_spec_validator import validate

    live = LiveServer(build(AUTH_SECRET=SECRET))  # sanic-ext keeps one spec per process: the last app's
    live.start()
    try:
        spec = live.request("GET", "/openapi/spec.json").json()
    finally:
        live.stop()
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A JWT; each operation's 403 response names the scopes it needs."}
    notes = spec["paths"]["/notes"]
    assert notes["get"]["security"] == [{"bearer": []}]
    assert notes["get"]["responses"]["403"]["description"].endswith("notes:read")
    assert notes["post"]["responses"]["403"]["description"].endswith("notes:write")
    assert notes["delete"]["responses"]["403"]["description"].endswith("notes:admin")
    assert "401" in notes["post"]["responses"]
    assert "security" not in spec["paths"]["/notes/open"]["get"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


@pytest.mark.asyncio
async def test_a_verified_token_is_remembered_until_it_expires(monkeypatch):
    authenticator = auth.Authenticator(sanicms.load_settings(
        environ={}, overrides={"DATABASE_URL": DEAD_DB, "AUTH_ENABLED": True, "AUTH_SECRET": SECRET}).auth, "notes")
    decoded = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: decoded.append(1) or real_decode(*a, **k))
    short = token(ttl=60)

    first = await authenticator.verify(short)
    assert await authenticator.verify(short) is first  # the same token: no second signature check
    assert len(decoded) == 1
    assert authenticator._verified[short][1] <= first.claims["exp"]  # remembered no longer than exp
    authenticator._verified[short] = (first, 0.0)  # as if its time were up: checked again
    assert (await authenticator.verify(short)).subject == "ann"
    assert len(decoded) == 2
    with pytest.raises(jwt.InvalidSignatureError):
        await authenticator.verify(short[:-4] + ("AAAA" if not short.endswith("AAAA") else "BBBB"))
