"""Calls to other services over aiohttp: one session per downstream, a timeout on every call.

``ServiceClient.get(request, "/cities/1")`` returns the downstream's ``data`` (it speaks the
same envelope). Failures become API errors the caller may let through: unreachable -> 503,
too slow -> 504, a 5xx or garbage -> 502, a 4xx -> :class:`DownstreamError` (also a 502
unless the caller catches it, e.g. to turn a 404 into "no such city").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sanic import Request

from .. import observers as _observers
from ..config import ClientSettings
from ..contract.published import resource_path
from ..deadlines import HEADER as DEADLINE_HEADER
from ..deadlines import DeadlineExceeded, deadline_of, format_timeout
from ..errors import ApiError, BadGateway, ErrorCode, Forbidden, GatewayTimeout, ServiceUnavailable
from ..observers import Instrumentation
from .resilience import IDEMPOTENT, RETRY_STATUSES, CircuitBreaker, RetryPolicy

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("sanicms.calls.client")
T = TypeVar("T")

#: Hook around each call: ``observer(request, service, method, url, headers)`` may add
#: headers (trace propagation) and returns a context manager, or None.
CallObserver = Callable[[Request | None, str, str, str, dict[str, str]], Any]


class DownstreamError(BadGateway):
    """The downstream refused the call with a 4xx; ``status`` and its ``message`` say why."""

    def __init__(self, service: str, status: int, message: str, error: Any = None) -> None:
        super().__init__(
            f"{service} service refused the call ({status}): {message}",
            code=ErrorCode.DOWNSTREAM_REFUSED,
            error={"service": service, "status": status, "detail": error},
        )
        self.service = service
        self.status = status
        self.downstream_message = message


class ServiceClient:
    """A keep-alive connection pool to one downstream service, opened with the server."""

    def __init__(self, name: str, base_url: str, *, timeout: float = 5.0,
                 connect_timeout: float = 1.0, pool_size: int = 100,
                 retry: RetryPolicy | None = None, breaker: CircuitBreaker | None = None,
                 forward_token: bool = True, token: str = "", caller: str | None = None, deadline_margin: float = 0.02,
                 observers: Iterable[CallObserver] = (), retry_listeners: Iterable[Callable[[], None]] = ()) -> None:
        self.name = name
        self.caller = caller  # the calling service's package, which keeps the neighbour's spec (resource)
        # Whose token the call carries: the service's own (``token``), else the caller's.
        self.forward_token = forward_token
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        #: seconds of the caller's remaining budget left for the answer's way back (sanicms.deadlines)
        self.deadline_margin = deadline_margin
        self.pool_size = pool_size
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        if not self.breaker.name:
            self.breaker.name = name
        self.session: aiohttp.ClientSession | None = None
        # What a call calls: the observers (listeners) as one, None without any.
        self._observe: CallObserver | None = None
        self._on_retry: Callable[[], None] | None = None
        self._observers: tuple[CallObserver, ...] = ()
        self._retry_listeners: tuple[Callable[[], None], ...] = ()
        self.observers = tuple(observers)
        self.retry_listeners = tuple(retry_listeners)

    # The observers: lists given at construction (tracing's and the metrics' among them,
    # bound to the worker's tracer and instruments when the server starts).

    @property
    def observers(self) -> tuple[CallObserver, ...]:
        """Called around each call (:data:`CallObserver`), first given outermost; assigning
        replaces them."""
        return self._observers

    @observers.setter
    def observers(self, observers: Iterable[CallObserver]) -> None:
        self._observers = tuple(observers)
        self._observe = _observers.around(self._observers)

    @property
    def retry_listeners(self) -> tuple[Callable[[], None], ...]:
        """Told before each retry (metrics count them), in order; assigning replaces them."""
        return self._retry_listeners

    @retry_listeners.setter
    def retry_listeners(self, listeners: Iterable[Callable[[], None]]) -> None:
        self._retry_listeners = tuple(listeners)
        self._on_retry = _observers.each(self._retry_listeners)

    @property
    def observe(self) -> CallObserver | None:
        """The observers as one (the single hook this was before they became a list);
        assigning one makes it the only observer, None none."""
        return self._observe

    @observe.setter
    def observe(self, observer: CallObserver | None) -> None:
        self.observers = () if observer is None else (observer,)

    @property
    def on_retry(self) -> Callable[[], None] | None:
        """The retry listeners as one (the single hook this was); assigning one makes it the
        only listener, None none."""
        return self._on_retry

    @on_retry.setter
    def on_retry(self, listener: Callable[[], None] | None) -> None:
        self.retry_listeners = () if listener is None else (listener,)

    @property
    def resource(self) -> str:
        """Where the neighbour serves its resource, read from its published spec (``/cities``
        for the city service): ``client.get(request, f"{client.resource}/{id}")``."""
        return resource_path(self.name, caller=self.caller)

    async def open(self) -> None:
        import aiohttp  # here, not at the top: a service that calls no neighbour never loads it (9 MiB)

        connector = aiohttp.TCPConnector(limit=self.pool_size, ttl_dns_cache=60, enable_cleanup_closed=True)
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=self.connect_timeout),
            json_serialize=_json_text,
            raise_for_status=False,
            # One session serves every caller: a cookie one call got must not go out with the
            # next caller's (and no jar to search on every call).
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()

    async def get(self, request: Request | None, path: str, *, params: Mapping[str, Any] | None = None,
                  timeout: float | None = None) -> Any:
        return await self.call(request, "GET", path, params=params, timeout=timeout)

    async def post(self, request: Request | None, path: str, *, json: Any = None,
                   timeout: float | None = None) -> Any:
        return await self.call(request, "POST", path, json=json, timeout=timeout)

    async def put(self, request: Request | None, path: str, *, json: Any = None,
                  timeout: float | None = None) -> Any:
        return await self.call(request, "PUT", path, json=json, timeout=timeout)

    async def patch(self, request: Request | None, path: str, *, json: Any = None,
                    timeout: float | None = None) -> Any:
        return await self.call(request, "PATCH", path, json=json, timeout=timeout)

    async def delete(self, request: Request | None, path: str, *, timeout: float | None = None) -> Any:
        return await self.call(request, "DELETE", path, timeout=timeout)

    async def get_or_none(self, request: Request | None, path: str, *,
                          params: Mapping[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Like :meth:`get`, but None when the neighbour answers 404 (a record that does not
        exist is an answer, not a failure); every other failure raises as usual."""
        try:
            return await self.call(request, "GET", path, params=params, timeout=timeout)
        except DownstreamError as exc:
            if exc.status == 404:
                return None
            raise

    async def call(self, request: Request | None, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                   json: Any = None, timeout: float | None = None) -> Any:
        """One call; returns the downstream's ``data``. ``timeout`` overrides the default."""
        if self.session is None:
            raise ServiceUnavailable(f"{self.name} client is not open", code=ErrorCode.CLIENT_NOT_OPEN)
        url = self.base_url + path
        headers: dict[str, str] = {"accept": "application/json"}
        bearer = self.token or (self.forward_token and getattr(getattr(request, "ctx", None), "token", None))
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        deadline = deadline_of(request)
        observe = self._observe
        observer = observe(request, self.name, method, url, headers) if observe is not None else None
        try:
            if observer is None:
                return await self._call_with_retries(method, url, params, json, headers, timeout, deadline)
            with observer:
                return await self._call_with_retries(method, url, params, json, headers, timeout, deadline)
        except DownstreamError as exc:
            if exc.status == 403 and bearer and not self.token and _scope_refusal(exc):
                raise self._caller_forbidden(exc) from None
            raise

    def _caller_forbidden(self, exc: DownstreamError) -> Forbidden:
        """The neighbour refused the caller's own token (a scope it lacks): the caller's 403,
        not this service's failure, so it is answered as one, with what the neighbour needs."""
        detail = exc.error.get("detail") if isinstance(exc.error, dict) else None
        return Forbidden(f"the token does not allow this call to the {self.name} service: {exc.downstream_message}",
                         error={"service": self.name, "detail": detail})

    async def _call_with_retries(self, method: str, url: str, params: Any, json: Any, headers: dict[str, str],
                                 timeout: float | None, deadline: float | None) -> Any:
        """Idempotent calls are retried on connection errors and 502/503/504, with jittered
        backoff; the breaker fails calls fast while the downstream is known to be down.
        The breaker is asked once per call, and a probe of a half-open breaker is a single
        attempt whose outcome (or cancellation) always settles the breaker. No attempt starts
        unless the caller's budget (``deadline``, a ``perf_counter()`` time) leaves time for it."""
        own = self.timeout if timeout is None else timeout
        if deadline is not None and self._budget(own, deadline) <= self.deadline_margin:
            raise self._no_time_left()  # before the breaker: no call, so no verdict on the neighbour
        breaker = self.breaker
        if not breaker.allow():
            raise self._circuit_open()
        probe = breaker.probing
        retries = self.retry.retries if method.upper() in IDEMPOTENT and not probe else 0
        failed: ApiError | None = None
        try:
            for attempt in range(1 + retries):
                wait = own if deadline is None else self._budget(own, deadline)
                if failed is not None and wait <= self.deadline_margin:  # the backoff overran the budget
                    breaker.failure()
                    raise failed
                # What the neighbour is told: one margin less, so that its answer comes back in time.
                headers[DEADLINE_HEADER] = format_timeout(wait - self.deadline_margin)
                try:
                    result = await self._send(method, url, params, json, headers,
                                              timeout if wait == own else wait, wait < own)
                except DownstreamError:
                    breaker.success()  # it answered: alive, just said no
                    raise
                except ApiError as exc:
                    delay = self.retry.delay(attempt)
                    if (not exc.retryable or attempt == retries
                            or (deadline is not None and self._budget(own, deadline - delay) <= self.deadline_margin)):
                        breaker.failure()  # one failed call, however many attempts it took
                        raise
                    failed = exc
                    if self._on_retry is not None:
                        self._on_retry()
                    await asyncio.sleep(delay)
                else:
                    breaker.success()
                    return result
        except BaseException:
            if probe and breaker.probing:  # cancelled, or failed in a way not judged above
                breaker.abandon()
            raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def _budget(self, own: float, deadline: float) -> float:
        """How long an attempt started now may wait: its own timeout, or less when the caller's
        deadline is nearer, keeping one margin for the caller's answer. The neighbour is told
        one margin less: an attempt with no more than a margin is not made."""
        return min(own, deadline - perf_counter() - self.deadline_margin)

    def _no_time_left(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"no time left to call the {self.name} service within the caller's deadline",
                                error={"service": self.name})

    def _circuit_open(self) -> ServiceUnavailable:
        wait = max(1, round(self.breaker.retry_after()))
        error = ServiceUnavailable(f"{self.name} service is unavailable (circuit open)", code=ErrorCode.CIRCUIT_OPEN,
                                   error={"service": self.name}, headers={"retry-after": str(wait)})
        error.logged = True  # the breaker logged the outage when it opened, and logs its end
        return error

    async def _send(self, method: str, url: str, params: Any, json: Any, headers: dict[str, str],
                    timeout: float | None, by_deadline: bool = False) -> Any:
        assert self.session is not None, "call() found it open"
        kwargs: dict[str, Any] = {"params": _query(params), "json": json, "headers": headers}
        if timeout is not None:
            import aiohttp  # loaded by open(): a lookup, not a load
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout, connect=min(self.connect_timeout, timeout))
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                raw = await resp.read()
        except Exception as exc:
            raise self._failure(exc, by_deadline) from None
        return self._unwrap(resp.status, raw)

    def _failure(self, exc: Exception, by_deadline: bool = False) -> Exception:
        """What a call that could not be made or answered becomes: an API error the caller
        may let through (``exc`` itself when it is no network failure: a bug shows as one)."""
        import aiohttp  # loaded by open(): a lookup, not a load
        service = {"service": self.name}
        if isinstance(exc, TimeoutError) and by_deadline:
            return DeadlineExceeded(f"{self.name} service did not answer within the caller's deadline", error=service)
        if isinstance(exc, TimeoutError):
            return GatewayTimeout(f"{self.name} service did not answer in time", code=ErrorCode.DOWNSTREAM_TIMEOUT,
                                  error=service)
        if isinstance(exc, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
            log.warning("%s service unreachable: %s", self.name, exc)
            return ServiceUnavailable(f"{self.name} service is unreachable", code=ErrorCode.DOWNSTREAM_UNREACHABLE,
                                      error=service)
        if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):
            # Connected, then the connection was reset or closed before a whole answer came
            # (the neighbour crashed mid-call, a stale keep-alive connection).
            log.warning("%s service dropped the connection: %s", self.name, _what(exc))
            return ServiceUnavailable(f"{self.name} service dropped the connection",
                                      code=ErrorCode.DOWNSTREAM_UNREACHABLE, error=service)
        if isinstance(exc, aiohttp.ClientError):  # a malformed or cut-off answer
            log.warning("%s service answered badly: %s", self.name, _what(exc))
            return BadGateway(f"{self.name} service sent a broken response", code=ErrorCode.DOWNSTREAM_BROKEN,
                              error=service)
        return exc

    def _unwrap(self, status: int, raw: bytes) -> Any:
        try:
            body = orjson.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("code"), int):
            raise BadGateway(f"{self.name} service sent a response that is not the unified format",
                             code=ErrorCode.DOWNSTREAM_NOT_ENVELOPE, error={"service": self.name, "status": status})
        if body["code"] == ErrorCode.DEADLINE_EXCEEDED:  # the budget ran out there: the caller's too
            raise DeadlineExceeded(f"{self.name} service: the caller's deadline passed", error={"service": self.name})
        if 400 <= status < 500:
            raise DownstreamError(self.name, status, str(body.get("message", "")), body.get("error"))
        if status >= 300 or body["code"] != 0:
            raise BadGateway(f"{self.name} service failed ({status})", code=ErrorCode.DOWNSTREAM_FAILED,
                             error={"service": self.name, "status": status, "message": body.get("message")},
                             retryable=status in RETRY_STATUSES)
        return body.get("data")


def _scope_refusal(exc: DownstreamError) -> bool:
    """Whether a neighbour's 403 is sanicms.auth's "insufficient scope" (it names the scopes
    required), not a 403 of its own business rules."""
    detail = exc.error.get("detail") if isinstance(exc.error, dict) else None
    return isinstance(detail, dict) and "required" in detail


def _what(exc: BaseException) -> str:
    """The exception in a few words: its type, and its text on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """aiohttp wants strings; lists become comma-separated values (``ids=1,2,3``)."""
    if not params:
        return None
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out[key] = str(value)
    return out


class Clients:
    """The downstream clients of one app, by service name: ``app.ctx.clients.city``."""

    def __init__(self, clients: Mapping[str, ServiceClient]) -> None:
        self._clients = dict(clients)

    @classmethod
    def from_settings(cls, settings: ClientSettings, *, caller: str | None = None,
                      instrumentation: Iterable[Instrumentation] = ()) -> Clients:
        """``instrumentation``: tracing's and the metrics' hooks, asked for each client's."""
        hooks = list(instrumentation)
        return cls({
            name: ServiceClient(
                name,
                settings.urls[name],
                timeout=settings.timeout,
                connect_timeout=settings.connect_timeout,
                pool_size=settings.pool_size,
                retry=RetryPolicy(settings.retries, settings.retry_backoff, settings.retry_backoff_max),
                breaker=CircuitBreaker(settings.breaker_threshold, settings.breaker_reset),
                forward_token=settings.forward_token,
                token=settings.service_token,
                caller=caller,
                deadline_margin=settings.deadline_margin,
                observers=[o for i in hooks for o in i.call_observers(name, settings.urls[name])],
                retry_listeners=[r for i in hooks for r in i.retry_listeners(name)],
            )
            for name in settings.downstream
        })

    def __getattr__(self, name: str) -> ServiceClient:
        try:
            return self._clients[name]
        except KeyError:
            raise AttributeError(f"no downstream service named {name!r}") from None

    def __getitem__(self, name: str) -> ServiceClient:
        return self._clients[name]

    def __iter__(self) -> Iterator[ServiceClient]:
        return iter(self._clients.values())

    async def open(self) -> None:
        for client in self:
            await client.open()

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self), return_exceptions=True)


async def gather(*calls: Awaitable[T]) -> list[T]:
    """Run downstream calls concurrently; if one fails, cancel the rest and raise its error.

    Unlike ``asyncio.gather``, a failure does not leave sibling calls running."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call if asyncio.iscoroutine(call) else _as_coroutine(call))
                     for call in calls]
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return [task.result() for task in tasks]


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
