"""Trace context in HTTP headers: B3 (multi and single header) and W3C ``traceparent``.

Outgoing calls carry all three, so any Zipkin- or OpenTelemetry-instrumented neighbour
continues the trace. Incoming headers are read in the order ``b3``, ``X-B3-*``,
``traceparent``; anything malformed is ignored (a new trace starts), never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

Getter = Callable[[str], str | None]  # a header by its lowercase name
_HEX16 = re.compile(r"[0-9a-f]{16}")
_TRACE_ID = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_SAMPLED = {"1": True, "true": True, "d": True, "0": False, "false": False}


class Extracted(NamedTuple):
    trace_id: str  # "" with span_id "": the caller sent only its sampling decision (``b3: 0``)
    span_id: str
    parent_id: str | None
    sampled: bool | None  # None: the caller left the decision to us
    debug: bool = False


def headers_for(context: Any) -> dict[str, str]:
    """The propagation headers for a call made within ``context`` (the CLIENT span's)."""
    trace, span, parent = context.trace_id, context.span_id, context.parent_id
    flag = "d" if context.debug else ("1" if context.sampled else "0")
    headers = {"X-B3-TraceId": trace, "X-B3-SpanId": span}
    if parent:
        headers["X-B3-ParentSpanId"] = parent
    if context.debug:
        headers["X-B3-Flags"] = "1"
    else:
        headers["X-B3-Sampled"] = flag
    headers["b3"] = f"{trace}-{span}-{flag}" + (f"-{parent}" if parent else "")
    headers["traceparent"] = f"00-{trace.rjust(32, '0')}-{span}-{'01' if context.sampled else '00'}"
    return headers


def extract(carrier: Mapping[str, str]) -> Extracted | None:
    """The caller's trace context from request headers, or None."""
    get = _getter(carrier)
    if (get("b3") is None and get("x-b3-traceid") is None and get("traceparent") is None
            and get("x-b3-sampled") is None):
        return None  # the common case at the edge: no caller context
    return (_from_b3_single(get("b3")) or _from_b3_multi(get) or _from_traceparent(get("traceparent"))
            or _decision_only(get))


def _decision_only(get: Getter) -> Extracted | None:
    """B3's decision without ids (``b3: 0``, or ``X-B3-Sampled: 0`` alone): a new trace, sampled
    as the caller decided. A caller that says "do not sample" is obeyed (B3's "deny")."""
    for header in ("b3", "x-b3-sampled"):
        flag = (get(header) or "").strip().lower()
        if flag in _SAMPLED:
            return Extracted("", "", None, _SAMPLED[flag], flag == "d")
    return None


def _getter(carrier: Mapping[str, str]) -> Getter:
    if hasattr(carrier, "getone"):  # multidict-style (Sanic, aiohttp): already case-insensitive
        return carrier.get
    lowered = {str(k).lower(): v for k, v in carrier.items()}
    return lowered.get


def _trace_id(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    if _TRACE_ID.fullmatch(value) and value.strip("0"):
        return value
    return None


def _span_id(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    if _HEX16.fullmatch(value) and value.strip("0"):
        return value
    return None


def _from_b3_single(value: str | None) -> Extracted | None:
    """``{trace}-{span}[-{sampled}[-{parent}]]``; a bare sampling flag carries no ids."""
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) < 2 or len(parts) > 4:
        return None
    trace, span = _trace_id(parts[0]), _span_id(parts[1])
    if trace is None or span is None:
        return None
    sampled: bool | None = None
    if len(parts) >= 3:
        if parts[2] not in _SAMPLED:
            return None
        sampled = _SAMPLED[parts[2]]
    parent = None
    if len(parts) == 4:
        parent = _span_id(parts[3])
        if parent is None:
            return None
    return Extracted(trace, span, parent, sampled, len(parts) >= 3 and parts[2] == "d")


def _from_b3_multi(get: Getter) -> Extracted | None:
    trace, span = _trace_id(get("x-b3-traceid")), _span_id(get("x-b3-spanid"))
    if trace is None or span is None:
        return None
    raw_parent = get("x-b3-parentspanid")
    parent = _span_id(raw_parent)
    if raw_parent and parent is None:
        return None
    debug = (get("x-b3-flags") or "").strip() == "1"
    sampled = True if debug else _SAMPLED.get((get("x-b3-sampled") or "").strip().lower())
    return Extracted(trace, span, parent, sampled, debug)


def _from_traceparent(value: str | None) -> Extracted | None:
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace, span, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if not trace.strip("0") or not span.strip("0"):
        return None
    return Extracted(trace, span, None, bool(int(flags, 16) & 1))
