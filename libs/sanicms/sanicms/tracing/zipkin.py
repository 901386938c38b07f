"""Finished spans as Zipkin v2 JSON (``definitions/Span`` of Zipkin's API)."""

from __future__ import annotations

import ipaddress
from typing import Any

from .tracer import Span

# Log fields that are objects or stacks, not text: kept out of spans (and out of Zipkin).
_UNSHOWN = {"error.object", "stack", "python.exception.tb"}


def to_zipkin(span: Span) -> dict[str, Any]:
    """One span as the JSON object Zipkin's ``POST /api/v2/spans`` accepts."""
    context = span._context  # runs for every span: attribute access, not the property
    assert span.end is not None, "only finished spans are reported"
    out: dict[str, Any] = {
        "traceId": context.trace_id,
        "id": context.span_id,
        "name": span.name.lower(),
        "timestamp": int(span.start * 1_000_000),
        "duration": int((span.end - span.start) * 1_000_000) or 1,
        "localEndpoint": span._tracer.endpoint,
    }
    if context.parent_id:
        out["parentId"] = context.parent_id
    if span.kind:
        out["kind"] = span.kind
    if context.debug:
        out["debug"] = True
    if span.remote:
        out["remoteEndpoint"] = span.remote
    tags = span.tags
    if tags:
        for value in tags.values():
            if value.__class__ is not str:  # Zipkin wants strings only
                tags = {key: _text(value) for key, value in tags.items()}
                break
        out["tags"] = tags
    if span.logs:
        out["annotations"] = _annotations(span.logs)
    return out


def endpoint(service: str | None = None, host: str | None = None, port: int | None = None) -> dict[str, Any]:
    """A Zipkin endpoint; ``host`` is used only when it is an IP address literal."""
    out: dict[str, Any] = {}
    if service:
        out["serviceName"] = service.lower()
    if host:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        if address is not None and not address.is_unspecified:
            out["ipv4" if address.version == 4 else "ipv6"] = str(address)
    if port:
        out["port"] = int(port)
    return out


def peer(ip: str, port: int | None) -> dict[str, Any]:
    """The remote end of a connection, from the socket's address (already an IP: no parsing)."""
    out: dict[str, Any] = {"ipv6" if ":" in ip else "ipv4": ip} if ip else {}
    if port:
        out["port"] = port
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _annotations(logs: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
    seen: set[tuple[int, str]] = set()
    out = []
    for when, fields in logs:
        value = _annotation_value(fields)
        key = (int(when * 1_000_000), value)
        if value and key not in seen:
            seen.add(key)
            out.append({"timestamp": key[0], "value": value})
    return out


def _annotation_value(fields: dict[str, Any]) -> str:
    """``event`` alone, or ``event: message``, or ``k=v`` pairs for other fields."""
    shown = {k: v for k, v in fields.items() if k not in _UNSHOWN}
    event, message = shown.pop("event", None), shown.pop("message", None)
    kind = shown.pop("error.kind", None)
    if kind is not None and not isinstance(kind, str):
        kind = getattr(kind, "__name__", str(kind))
    head = ": ".join(str(part) for part in (event, kind, message) if part is not None)
    rest = " ".join(f"{k}={_text(v)}" for k, v in shown.items())
    return " ".join(part for part in (head, rest) if part)
