"""The base classes of a service's tests: :class:`APITestCase` (the app served for real
on its own database, neighbours mocked) and :class:`SpecTestCase` (its OpenAPI document)."""

from __future__ import annotations

import re
import unittest
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import asyncpg
import httpx
from sanic import Sanic

from ..auth import mint
from ..config import service_url_setting
from ..contract.published import PublishedSpecError, caller_package, published_spec
from ..data.db import Database
from ..data.migrations import MigrationModel
from ..errors import ApiError
from .contracts import MockContracts, neighbour_shape_problems, published_spec_problem
from .mocks import MOCK_BASE_URL, ServiceMocks, _Mocker
from .server import LiveServer, RouteClient, postgres

#: The HS256 key of services under test when they check tokens.
TEST_SECRET = "sanicms-test-key-" + "0" * 32


class APITestCase(unittest.TestCase):
    """Base class of a service's HTTP tests (see the module docstring)."""

    app_factory: ClassVar[Callable[..., Sanic[Any, Any]]]
    migrations: ClassVar[Sequence[type[MigrationModel]]] = ()
    #: The blueprint whose handlers ``self.client`` calls by name. ``_blueprint`` is the
    #: original design's name for it; set either.
    blueprint: ClassVar[str | None] = None
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
    #: The neighbours' published specs that ``self.mock`` checks mocks against.
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
        #: The neighbours' fake answers; ``self._mock`` is the original design's name for it.
        self.mock = self._mock = ServiceMocks(mocker, contracts=self.contracts)
        self.client = RouteClient(self.live, self.blueprint or self._blueprint, self.token)

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
