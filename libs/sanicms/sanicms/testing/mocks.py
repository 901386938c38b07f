"""Mocked neighbours: fake answers of other services, through ``aioresponses``.

Nothing real is called: a call with no registered answer is refused, as by a service that is
down. With the neighbours' published specs, each mock is checked against them when registered.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiohttp import ClientResponse
from aioresponses import aioresponses
from aioresponses.core import RequestCall

from .contracts import MockContracts

#: Base URL every downstream points at in tests; mocks are registered under it.
MOCK_BASE_URL = "http://downstream.mock"


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
