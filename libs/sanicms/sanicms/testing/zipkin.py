"""Spans checked against Zipkin's own API spec, not against this library's idea of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def zipkin_span_validator(spec_path: str | Path) -> Any:
    """A validator for one span against ``definitions/Span`` of Zipkin's own API spec
    (``zipkin2-api.yaml``), so spans are checked against the real format, not ours."""
    import jsonschema
    import yaml

    spec = yaml.safe_load(Path(spec_path).read_text())
    schema = {"definitions": spec["definitions"], "$ref": "#/definitions/Span"}
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
