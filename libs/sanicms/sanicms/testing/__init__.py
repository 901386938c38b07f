"""Test helpers: a real server on loopback, a real PostgreSQL, and mocked neighbours.

::

    class CityTest(APITestCase):
        app_factory = staticmethod(create_app)      # the service's factory
        migrations = [CityMigration]
        _blueprint = "cities"

        def test_get(self):
            self._mock.get("/roles/1", payload={"id": 1, "name": "admin"})
            res = self.client.get_city(id=1)        # route by handler name
            self.assertEqual(res.status_code, 404)

The app runs once per test class on a free loopback port, against its own database on a
throwaway PostgreSQL (or the server in ``DATABASE_URL``); tables are emptied before each
test. Calls to other services go through ``aioresponses``: nothing real is called, and a
call with no registered answer fails as if the service were down.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import re
import unittest
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, TypeVar

import asyncpg
import httpx
from aiohttp import ClientResponse
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from sanic import Sanic
from sanic.server.async_server import AsyncioServer

from ..auth import mint
from ..config import service_url_setting
from ..contract.published import PublishedSpecError, caller_package, published_spec
from ..data.db import Database
from ..data.migrations import MigrationModel, run_migrations
from ..errors import ApiError
from .contracts import MockContracts, neighbour_shape_problems, published_spec_problem
from .localdb import create_database, throwaway_server
from .processes import free_port

#: Base URL every downstream points at in tests; mocks are registered under it.
MOCK_BASE_URL = "http://downstream.mock"
#: The HS256 key of services under test when they check tokens.
TEST_SECRET = "sanicms-test-key-" + "0" * 32
T = TypeVar("T")


class _Postgres:
    """One throwaway server per test process, started on first use."""

    def __init__(self) -> None:
        self._stack: contextlib.ExitStack | None = None
        self._server_url: str | None = None
        self._created: dict[str, str] = {}

    def database(self, name: str, migrations: Sequence[type[MigrationModel]]) -> str:
        if name not in self._created:
            url = create_database(self.server_url(), name, fresh=True)
            run_migrations(url, migrations)
            self._created[name] = url
        return self._created[name]

    def server_url(self) -> str:
        if self._server_url is None:
            self._stack = contextlib.ExitStack()
            self._server_url = self._stack.enter_context(throwaway_server())
            atexit.register(self._stack.close)
        return self._server_url


postgres = _Postgres()


class _MockResponse(ClientResponse):
    """aioresponses 0.7 builds responses without the ``stream_writer`` aiohttp 3.14
    requires (pnuckowski/aioresponses#289); give it a stand-in with nothing written."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class _Mocker(aioresponses):
    """aioresponses, whose answer to a call nobody registered reads like a connection dropped
    midway; here it is refused, as by a service that is down, and the log says why."""

    async def match(self, method: str, url: Any, allow_redirects: bool = True, **kwargs: Any) -> Any:
        response = await super().match(method, url, allow_redirects=allow_redirects, **kwargs)
        if response is None:
            raise ConnectionRefusedError(f"no mock registered for {method} {url} "
                                         "(refused, as if the service were down)")
        return response


class ServiceMocks:
    """Fake answers of other services, in the unified format, by path under the mock base.

    With ``contracts`` (``APITestCase`` passes the neighbours' published specs), each mock is
    checked when registered: a route, method, status or ``data`` the neighbour could never
    answer raises :class:`~sanicms.testing.contracts.ContractError` naming the field."""

    def __init__(self, mocker: aioresponses, base_url: str = MOCK_BASE_URL,
                 contracts: MockContracts | None = None) -> None:
        self.mocker = mocker
        self.base_url = base_url
        self.contracts = contracts

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path

    def add(self, method: str, path: str, payload: Any = None, *, status: int = 200,
            message: str | None = None, exception: Exception | None = None,
            repeat: bool = True, body: Any = None, unchecked: bool = False) -> None:
        """Register one answer. ``payload`` is the ``data`` of a success; ``status`` >= 400
        sends an error envelope with ``message``; ``exception`` makes the call fail; ``body``
        sends these raw bytes, text or JSON instead of an envelope. Checked against the
        neighbour's contract (the route only, for ``exception`` and ``body``) unless ``unchecked``."""
        if self.contracts is not None and not unchecked:
            answered = exception is None and body is None
            self.contracts.check(method, path, status if answered else None, payload)
        if exception is not None:
            self.mocker.add(self.url(path), method, exception=exception, repeat=repeat,
                            response_class=_MockResponse)
            return
        if body is None:
            body = ({"code": 0, "data": payload} if status < 400
                    else {"code": status, "message": message or "error", "error": None})
        kwargs: dict[str, Any] = {"body": body} if isinstance(body, (str, bytes)) else {"payload": body}
        self.mocker.add(self.url(path), method, status=status, repeat=repeat,
                        response_class=_MockResponse, **kwargs)

    def get(self, path: str, payload: Any = None, **kwargs: Any) -> None:
        self.add("GET", path, payload, **kwargs)

    def post(self, path: str, payload: Any = None, **kwargs: Any) -> None:
        self.add("POST", path, payload, **kwargs)

    def put(self, path: str, payload: Any = None, **kwargs: Any) -> None:
        self.add("PUT", path, payload, **kwargs)

    def patch(self, path: str, payload: Any = None, **kwargs: Any) -> None:
        self.add("PATCH", path, payload, **kwargs)

    def delete(self, path: str, payload: Any = None, **kwargs: Any) -> None:
        self.add("DELETE", path, payload, **kwargs)

    def requests(self, method: str, path: str) -> list[RequestCall]:
        """The calls the app made to ``path`` (aioresponses' record)."""
        from yarl import URL

        return self.mocker.requests.get((method.upper(), URL(self.url(path))), [])


class RouteClient:
    """Calls routes by handler name: ``client.get_city(id=1)``, ``client.create_city(data=...)``.

    Path parameters are keyword arguments; ``data`` is the JSON body, ``params`` the query
    string, ``headers`` extra headers; ``content`` sends raw bytes instead of JSON. With access
    control on, calls carry the test case's token; ``token=`` sends another, ``token=None`` none."""

    def __init__(self, server: LiveServer, blueprint: str | None, token: str | None = None) -> None:
        self._server = server
        self._blueprint = blueprint
        self._token = token

    def __getattr__(self, handler: str) -> Callable[..., httpx.Response]:
        if handler.startswith("_"):
            raise AttributeError(handler)

        def call(*, data: Any = None, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                 content: bytes | None = None, method: str | None = None, token: Any = ...,
                 **path_params: Any) -> httpx.Response:
            route_method, path = self._resolve(handler, path_params)
            token = self._token if token is ... else token
            if token:
                headers = {"Authorization": f"Bearer {token}", **(headers or {})}
            kwargs: dict[str, Any] = {"params": params, "headers": headers}
            if content is not None:
                kwargs["content"] = content
            elif data is not None:
                kwargs["json"] = data
            return self._server.request(method or route_method, path, **kwargs)

        return call

    def _resolve(self, handler: str, path_params: dict[str, Any]) -> tuple[str, str]:
        app = self._server.app
        name = f"{self._blueprint}.{handler}" if self._blueprint else handler
        path = app.url_for(name, **path_params)
        route = next(r for r in app.router.routes if r.name.endswith("." + name))
        method = next(m for m in sorted(route.methods) if m not in ("HEAD", "OPTIONS"))
        return method, path


class LiveServer:
    """A Sanic app serving on a free loopback port, driven from a private event loop."""

    def __init__(self, app: Sanic[Any, Any]) -> None:
        self.app = app
        app.ctx.settings = app.ctx.settings.replace(LOG_CONFIGURE=False)  # pytest owns logging (and caplog)
        self.loop = asyncio.new_event_loop()
        self.server: AsyncioServer | None = None
        self.http: httpx.AsyncClient | None = None
        self.base_url = ""

    def start(self) -> None:
        asyncio.set_event_loop(self.loop)
        port = free_port()  # Sanic reads port=0 as "use the default 8000"
        self.server = server = self.run(self.app.create_server(
            host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False))
        assert server is not None, "return_asyncio_server=True returns it"
        # Sanic leaves AsyncioServer's methods unannotated: hence the no-untyped-call ignores.
        self.run(server.startup())  # type: ignore[no-untyped-call]
        self.run(server.before_start())  # type: ignore[no-untyped-call]
        self.run(server.after_start())  # type: ignore[no-untyped-call]
        self.base_url = f"http://127.0.0.1:{port}"
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30)

    def stop(self) -> None:
        if self.server is None:
            return
        assert self.http is not None, "start() made it with the server"
        self.run(self.http.aclose())
        self.run(self.server.before_stop())  # type: ignore[no-untyped-call]
        self.run(self.server.close())  # type: ignore[no-untyped-call]
        for connection in list(self.server.connections):
            connection.close_if_idle()
        self.run(self.server.after_stop())  # type: ignore[no-untyped-call]
        self.server = None
        self.loop.close()

    def run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(awaitable)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert self.http is not None, "start() first"
        return self.run(self.http.request(method, path, **kwargs))

    def raw(self, data: bytes, timeout: float = 30) -> bytes:
        """``data`` written on a new connection as it is, then all the server sends until it
        closes the connection (within ``timeout``): for what an HTTP client will not send."""
        async def exchange() -> bytes:
            host, port = self.base_url.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                writer.write(data)
                await writer.drain()
                return await asyncio.wait_for(reader.read(), timeout)
            finally:
                writer.close()
        return self.run(exchange())


class APITestCase(unittest.TestCase):
    """Base class of a service's HTTP tests (see the module docstring)."""

    app_factory: ClassVar[Callable[..., Sanic[Any, Any]]]
    migrations: ClassVar[Sequence[type[MigrationModel]]] = ()
    _blueprint: ClassVar[str | None] = None
    #: Extra settings for the app under test.
    settings: ClassVar[dict[str, Any]] = {}
    #: Scopes of the test principal when the service checks tokens; None: every scope of the
    #: service's default policy (``<service>:read`` and ``<service>:write``).
    scopes: ClassVar[Sequence[str] | None] = None
    #: The token ``self.client`` sends (None when the service does not check tokens).
    token: ClassVar[str | None] = None

    app: ClassVar[Sanic[Any, Any]]
    live: ClassVar[LiveServer]
    #: The neighbours' published specs that ``self._mock`` checks mocks against.
    contracts: ClassVar[MockContracts]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        Sanic.test_mode = True  # many apps with the same name in one process
        probe = cls.app_factory(DATABASE_URL="postgresql://placeholder/none", **cls.settings)
        settings = probe.ctx.settings
        service = settings.service.name
        Sanic.unregister_app(probe)
        overrides: dict[str, Any] = {service_url_setting(n): MOCK_BASE_URL for n in settings.clients.downstream}
        overrides["DATABASE_URL"] = postgres.database(f"test_{service}", cls.migrations)
        if settings.auth.enabled:  # tokens signed with a key of the tests' own
            overrides.update(AUTH_SECRET=TEST_SECRET, AUTH_JWKS_URL="", AUTH_ISSUER="", AUTH_AUDIENCE="")
            scopes = cls.scopes if cls.scopes is not None else (f"{service}:read", f"{service}:write")
            cls.token = mint(scopes, subject="test", secret=TEST_SECRET)
        overrides.update(cls.settings)
        caller = caller_package(cls.app_factory.__module__)  # a service's package keeps its neighbours' specs
        cls.contracts = MockContracts({n: _published_or_none(n, caller) for n in settings.clients.downstream})
        cls.app = cls.app_factory(**overrides)
        cls.live = LiveServer(cls.app)
        cls.live.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.live.stop()
        Sanic.unregister_app(cls.app)
        super().tearDownClass()

    def setUp(self) -> None:
        super().setUp()
        self.truncate()
        for client in self.app.ctx.clients:
            client.breaker.reset()  # each test starts with every downstream presumed healthy
        mocker = _Mocker()
        mocker.start()
        self.addCleanup(mocker.stop)
        self._mock = ServiceMocks(mocker, contracts=self.contracts)
        self.client = RouteClient(self.live, self._blueprint, self.token)

    def token_for(self, *scopes: str, **claims: Any) -> str:
        """A token of the test key with these scopes (``subject=``, ``ttl=`` and claims)."""
        return mint(scopes, secret=TEST_SECRET, **claims)

    def truncate(self) -> None:
        tables = [m._model._meta.table_name for m in self.migrations]
        if tables:
            quoted = ", ".join(f'"{t}"' for t in tables)
            self.db_execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")

    def db_execute(self, sql: str, *args: Any) -> Any:
        """Run SQL on the app's database (to arrange data or check what was written)."""
        return self.live.run(self._db_fetch(sql, args))

    async def _db_fetch(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        db: Database = self.app.ctx.db
        try:
            async with db.acquire() as cur:
                return await cur.fetch(sql, *args)
        except ApiError as exc:
            # A test's own SQL: PostgreSQL's words (which column, which value) say more than
            # the 400 a client would get.
            if isinstance(exc.__cause__, asyncpg.PostgresError):
                raise exc.__cause__ from None
            raise

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw request by path, for what route names cannot express (unknown routes)."""
        return self.live.request(method, path, **kwargs)


def _published_or_none(service: str, caller: str | None) -> dict[str, Any] | None:
    try:
        return published_spec(service, caller=caller)
    except PublishedSpecError:
        return None  # its mocks fail with a message saying so, unless unchecked


def zipkin_span_validator(spec_path: str | Path) -> Any:
    """A validator for one span against ``definitions/Span`` of Zipkin's own API spec
    (``zipkin2-api.yaml``), so spans are checked against the real format, not ours."""
    import jsonschema
    import yaml

    spec = yaml.safe_load(Path(spec_path).read_text())
    schema = {"definitions": spec["definitions"], "$ref": "#/definitions/Span"}
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


class SpecTestCase(APITestCase):
    """The service's own OpenAPI document: valid OpenAPI 3, every route it serves is in it
    (no more, no less), its package publishes it as served (``<package>/openapi.json``), and
    the neighbours' shapes in it are as the neighbours publish them.
    Subclass it with ``app_factory`` (and ``migrations``) to get the tests. The base holds no
    test of its own, so unittest's discovery, which collects every TestCase a test module
    imports, finds nothing to run in it."""

    spec: ClassVar[dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, check in _SPEC_CHECKS.items():
            if not hasattr(cls, name):
                setattr(cls, name, check)

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.spec = cls.live.request("GET", "/openapi/spec.json").json()


def _spec_is_valid_and_has_every_route(case: SpecTestCase) -> None:
    from openapi_spec_validator import validate

    validate(case.spec)
    case.assertEqual(case.spec["info"]["title"], case.app.ctx.settings.api.title)
    documented = {(m.upper(), p) for p, item in case.spec["paths"].items() for m in item}
    served = {(m, "/" + _openapi_path(r.path).rstrip("/"))
              for r in case.app.router.routes for m in r.methods
              if m not in ("HEAD", "OPTIONS") and not r.path.startswith("openapi")}
    case.assertEqual(documented, served)


def _published_spec_is_the_served_one(case: SpecTestCase) -> None:
    package = case.app_factory.__module__.partition(".")[0]
    problem = published_spec_problem(case.spec, package, case.app.ctx.settings.service.name)
    if problem:
        case.fail(problem)


def _neighbours_shapes_are_as_they_publish_them(case: SpecTestCase) -> None:
    problems = neighbour_shape_problems(case.spec, case.contracts.specs)
    case.assertEqual(problems, [], "a neighbour's shape differs from its published spec: use "
                                   "sanicms.published_shape(service, schema) instead of a copy")


#: What every SpecTestCase subclass gets, by test name.
_SPEC_CHECKS: dict[str, Callable[[SpecTestCase], None]] = {
    "test_spec_is_valid_and_has_every_route": _spec_is_valid_and_has_every_route,
    "test_published_spec_is_the_served_one": _published_spec_is_the_served_one,
    "test_neighbours_shapes_are_as_they_publish_them": _neighbours_shapes_are_as_they_publish_them,
}


def _openapi_path(path: str) -> str:
    """``users/<id:int>`` -> ``users/{id}``."""
    return re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", path)
