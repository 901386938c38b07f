"""Bearer-token access control, the same in every service: who calls (a JWT checked with
PyJWT) and what they may do (scopes).

Keys are a shared secret (HS256: the demo and tests) or the public keys an identity provider
publishes at a JWKS URL (RS256 / ES256), cached and refreshed when an unknown ``kid`` arrives,
no more often than ``AUTH_JWKS_MIN_REFRESH`` so that a flood of made-up ``kid``s cannot
hammer the key server.

Policy, in one place: by default a read (GET, HEAD) needs ``<service>:read`` and anything
else ``<service>:write``; ``@auth.require("cities:admin")`` names other scopes for one
handler and ``@auth.public`` opens it. Health, readiness, metrics and the API docs are open
(``AUTH_PUBLIC_PATHS``). Handlers find the caller in ``request.ctx.principal``.

Failures follow RFC 6750 and say no more than it allows: 401 with ``WWW-Authenticate:
Bearer`` (``error="invalid_token"`` when a token was sent and refused, whatever the reason),
403 ``insufficient_scope`` when the token is good but lacks a scope. The reason is logged
for the operator, never told to the caller.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import EllipsisType
from typing import TYPE_CHECKING, Any, TypeVar

from sanic import Request, Sanic
from sanic_routing.route import Route

from ._compat.sanic import EXPECTING_CONTINUE, stop_reading_body
from .config import AuthSettings
from .context import tag_span
from .errors import ErrorCode, Forbidden, ServiceUnavailable, Unauthorized
from .request_hooks import RequestHooks

if TYPE_CHECKING:  # PyJWT (and cryptography, 9 MiB) is imported where tokens are handled:
    import jwt  # a service with auth off never loads it

log = logging.getLogger("sanicms.auth")

HANDLER_SCOPES = "__sanicms_scopes__"  # attribute set on a handler by require()/public
#: Verified tokens remembered at most (per worker).
VERIFIED_CACHE_SIZE = 10_000
#: The key ``make demo`` and ``python -m sanicms token`` use; public, so never for production
#: (a service started with it says so in a warning).
DEVELOPMENT_SECRET = "sanicms-development-key-public-never-use-in-production"

#: The caller of the request being handled (for log lines); None outside requests.
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "sanicms_principal", default=None)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, from a verified token: ``subject`` (``sub``) and granted ``scopes``."""

    subject: str
    scopes: frozenset[str]
    claims: Mapping[str, Any]


# ---- the policy, declared on handlers --------------------------------------------------------

def require(*scopes: str) -> Callable[[F], F]:
    """The caller needs every one of ``scopes`` (instead of the service's default)."""
    def mark(handler: F) -> F:
        setattr(handler, HANDLER_SCOPES, frozenset(scopes))
        return handler
    return mark


def public(handler: F) -> F:
    """Anyone may call this handler, with or without a token."""
    setattr(handler, HANDLER_SCOPES, None)
    return handler


_READS = frozenset({"GET", "HEAD"})


def scopes_for(handler: Any, method: str, settings: AuthSettings, service: str) -> frozenset[str] | None:
    """The scopes ``handler`` needs for ``method``; None: open to anyone."""
    declared: frozenset[str] | EllipsisType | None = getattr(handler, HANDLER_SCOPES, ...)
    if declared is not ...:
        return declared
    if settings.default_policy == "authenticated":
        return frozenset()
    return frozenset({f"{service}:{'read' if method in _READS else 'write'}"})


# ---- keys ------------------------------------------------------------------------------------

class KeyServerDown(Exception):
    """The JWKS could not be fetched and the key asked for is not cached."""


class JwksKeys:
    """Public keys from a JWKS URL, cached for ``ttl`` seconds.

    An unknown ``kid`` triggers one refetch, at most every ``min_refresh`` seconds (shared by
    concurrent requests); when the key server is down, cached keys keep working. A fetch is
    PyJWT's own (``PyJWKClient.fetch_data``: no redirects, a JSON object or an error) in a
    worker thread: a fetch is rare, and aiohttp would stay resident for it (9 MiB).
    """

    def __init__(self, url: str, *, ttl: float, min_refresh: float, timeout: float) -> None:
        self.url = url
        self.ttl, self.min_refresh, self.timeout = ttl, min_refresh, timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0  # last successful fetch
        self._tried_at = float("-inf")  # last attempt, successful or not
        self._reachable = True
        self._lock = asyncio.Lock()
        self._client: jwt.PyJWKClient | None = None
        self.fetches = 0

    async def open(self) -> None:
        import jwt  # lazily: see the imports

        # No cache of PyJWT's: this class decides when to fetch again.
        self._client = jwt.PyJWKClient(self.url, cache_jwk_set=False, timeout=self.timeout)
        try:
            await self._refresh()
        except KeyServerDown:
            log.warning("JWKS %s not reachable at start; will retry when a token needs it", self.url)

    async def close(self) -> None:
        self._client = None

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key named ``kid`` (the only key when the set has one and no kid is given)."""
        now = time.monotonic()
        found = self._lookup(kid)
        stale = now - self._fetched_at > self.ttl
        if (found is None or stale) and now - self._tried_at >= self.min_refresh:
            async with self._lock:
                if time.monotonic() - self._tried_at >= self.min_refresh:  # nobody refreshed meanwhile
                    try:
                        await self._refresh()
                    except KeyServerDown:
                        if self._lookup(kid) is None:
                            raise
            found = self._lookup(kid)
        if found is None and not self._reachable:
            raise KeyServerDown(self.url)
        return found

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        import jwt  # lazily: see the imports
        assert self._client is not None, "JwksKeys.open() first"
        self._tried_at = time.monotonic()
        self.fetches += 1
        try:
            # ``timeout`` bounds each socket operation in the thread; this, the whole fetch.
            async with asyncio.timeout(self.timeout):
                data = await asyncio.to_thread(self._client.fetch_data)
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (TimeoutError, ValueError, jwt.PyJWKClientError, jwt.PyJWKSetError) as exc:
            if self._reachable:
                log.warning("JWKS %s unavailable: %s", self.url, type(exc).__name__)
            self._reachable = False
            raise KeyServerDown(self.url) from exc
        if not self._reachable:
            log.info("JWKS %s reachable again", self.url)
        self._reachable = True
        self._keys = {k.key_id: k for k in keys if k.key_id and k.public_key_use in (None, "sig")}
        self._fetched_at = time.monotonic()


# ---- verification ----------------------------------------------------------------------------

class Authenticator:
    """Verifies bearer tokens against one service's settings; lives on ``app.ctx.auth``."""

    def __init__(self, settings: AuthSettings, service: str) -> None:
        self.settings = settings
        self.service = service
        self.algorithms = settings.allowed_algorithms
        self.keys = (JwksKeys(settings.jwks_url, ttl=settings.jwks_ttl, min_refresh=settings.jwks_min_refresh,
                              timeout=settings.jwks_timeout) if settings.jwks_url else None)
        self._options: dict[str, Any] = {"require": ["exp"] + [c for c, v in (("iss", settings.issuer),
                                                                              ("aud", settings.audience)) if v]}
        # Tokens already verified, until they expire (at most AUTH_JWKS_TTL): a client sends
        # the same token with every request, and a signature check costs more than the request.
        self._verified: dict[str, tuple[Principal, float]] = {}

    def scopes_for(self, handler: Any, method: str) -> frozenset[str] | None:
        """The scopes ``handler`` needs for ``method``; None: open to anyone."""
        return scopes_for(handler, method, self.settings, self.service)

    async def open(self) -> None:
        if not self.settings.enabled:
            return
        if self.settings.secret == DEVELOPMENT_SECRET:
            log.warning("AUTH_SECRET is the public development key: anyone can mint tokens")
        if self.keys is not None:
            await self.keys.open()

    async def close(self) -> None:
        if self.keys is not None:
            await self.keys.close()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; raises ``jwt.PyJWTError`` (or
        ``KeyServerDown``) otherwise."""
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        principal, expires = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # bounded: a flood of valid tokens only costs re-verification
        self._verified[token] = (principal, expires)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        import jwt  # lazily: see the imports
        if len(token) > self.settings.max_token_bytes:
            raise jwt.InvalidTokenError("token too long")
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:  # "none" and HS/RS confusion end here
            raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} not allowed")
        key: Any = self.settings.secret
        if self.keys is not None:
            key = await self.keys.key(header.get("kid"))
            if key is None:
                raise jwt.InvalidKeyError("unknown kid")
            if key.algorithm_name != algorithm and not _same_family(key, algorithm):
                raise jwt.InvalidAlgorithmError("algorithm does not match the key")
        claims = jwt.decode(token, key, algorithms=[algorithm], options=self._options,  # type: ignore[arg-type]
                            audience=self.settings.audience or None, issuer=self.settings.issuer or None,
                            leeway=self.settings.leeway)
        expires = min(float(claims["exp"]), time.time() + self.settings.jwks_ttl)
        return Principal(str(claims.get("sub", "")), scopes_of(claims), claims), expires


def _same_family(key: jwt.PyJWK, algorithm: str) -> bool:
    kty = key.key_type
    return (kty == "RSA" and algorithm[:2] in ("RS", "PS")) or (kty == "EC" and algorithm.startswith("ES"))


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """OAuth's space-separated ``scope`` claim, or a list in ``scp`` (Azure, Okta)."""
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, Iterable):
        return frozenset(str(s) for s in raw)
    return frozenset()


def mint(scopes: Iterable[str], *, subject: str = "developer", ttl: float = 3600,
         secret: str = DEVELOPMENT_SECRET, **claims: Any) -> str:
    """An HS256 token for development and tests (production tokens come from your identity
    provider)."""
    import jwt  # lazily: see the imports
    now = int(time.time())
    payload = {"sub": subject, "scope": " ".join(scopes), "iat": now, "exp": now + int(ttl), **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


# ---- the middleware --------------------------------------------------------------------------

def install(app: Sanic[Any, Any], hooks: RequestHooks) -> None:
    """Check every request of ``app`` when ``AUTH_ENABLED`` (after the server span opens).

    A client that sent ``Expect: 100-continue`` and no token is refused by a route hook,
    before it is invited to upload; everything else is checked by the request middleware,
    which may have to fetch keys."""
    app.ctx.auth = Authenticator(app.ctx.settings.auth, app.ctx.settings.service.name)
    if app.ctx.auth.settings.enabled:
        importlib.import_module("jwt")  # now rather than on the first request
        hooks.on_route.append(_refuse_without_token)
        app.on_request(_authenticate, priority=900)


def _needed(request: Request, auth: Authenticator) -> frozenset[str] | None:
    """The scopes the request's route needs, or None when it is open to anyone."""
    route = request.route
    if route is None or request.method == "OPTIONS" or request.path.startswith(auth.settings.public_paths):
        return None  # unknown routes get their 404/405, preflights their CORS answer
    return auth.scopes_for(route.handler, request.method)


def _no_token(auth: Authenticator) -> Unauthorized:
    return Unauthorized("authentication required", headers={"WWW-Authenticate": f'Bearer realm="{auth.service}"'})


def _refuse_without_token(request: Request, route: Route) -> None:
    """Route hook: a request that asks ``Expect: 100-continue`` without a token, for a route
    that needs one, is refused before it is invited to send its body. (Any other request is
    left to the middleware, once its body is read: closing a connection with an unread body
    in it can reset the connection before the client reads the 401.)"""
    if not getattr(request.stream, EXPECTING_CONTINUE, False) or "authorization" in request.headers:
        return
    auth: Authenticator = request.app.ctx.auth
    if _needed(request, auth) is not None:
        stop_reading_body(request)
        raise _no_token(auth)


async def _authenticate(request: Request) -> None:
    import jwt  # lazily: see the imports
    current_principal.set(None)  # a keep-alive connection's previous caller is not this one
    auth: Authenticator = request.app.ctx.auth
    needed = _needed(request, auth)
    if needed is None:
        return
    token = bearer_token(request)
    realm = f'Bearer realm="{auth.service}"'
    if token is None:
        raise _no_token(auth)
    try:
        principal = await auth.verify(token)
    except KeyServerDown:
        raise ServiceUnavailable("cannot verify the token now, try again later", code=ErrorCode.KEY_SERVER_DOWN,
                                 headers={"Retry-After": str(int(auth.settings.jwks_min_refresh) or 1)}) from None
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        log.info("token refused on %s %s: %s", request.method, request.path, exc)
        raise Unauthorized("invalid token", headers={
            "WWW-Authenticate": f'{realm}, error="invalid_token"'}) from None
    request.ctx.principal = principal
    request.ctx.token = token
    current_principal.set(principal)
    tag_span("enduser.id", principal.subject)
    missing = needed - principal.scopes
    if missing:
        scope = " ".join(sorted(needed))
        raise Forbidden("insufficient scope", error={"required": sorted(needed)}, headers={
            "WWW-Authenticate": f'{realm}, error="insufficient_scope", scope="{scope}"'})


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; "" when it has no token, None when
    there is no such header or it carries another scheme's credentials (Basic...): those are
    no bearer token at all, and never decoded as one (RFC 6750, 3.1)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
