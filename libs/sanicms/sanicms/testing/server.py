"""The app under test served for real: a free loopback port, a private event loop, routes
called by handler name; and the throwaway PostgreSQL the test databases live on.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx
from sanic import Sanic
from sanic.server.async_server import AsyncioServer

from ..data.migrations import MigrationModel, run_migrations
from .localdb import create_database, throwaway_server
from .processes import free_port

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
