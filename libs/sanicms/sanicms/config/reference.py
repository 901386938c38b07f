"""The configuration reference: every setting as Markdown tables, from the fields themselves."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from .parts import Settings
from .schema import part_types


def reference() -> str:
    """Every setting as Markdown tables, one per part: ``python -m sanicms settings``."""
    out = []
    for part, part_cls in part_types(Settings).items():
        out += [f"### {part}", "", "| setting | default | meaning |", "|---|---|---|"]
        for f in dataclasses.fields(part_cls):
            if "name" not in f.metadata:
                continue
            default = getattr(part_cls(), f.name)
            shown = ", ".join(default) if isinstance(default, tuple) else json.dumps(default)
            out.append(f"| `{f.metadata['name']}` | `{shown}` | {f.metadata['doc']}{_limits(f.metadata)} |")
        out.append("")
    return "\n".join(out)


def _limits(meta: Mapping[str, Any]) -> str:
    parts = []
    if meta.get("positive"):
        parts.append("> 0")
    if meta.get("minimum") is not None:
        parts.append(f">= {meta['minimum']}")
    if meta.get("maximum") is not None:
        parts.append(f"<= {meta['maximum']}")
    if meta.get("choices"):
        parts.append("one of " + ", ".join(meta["choices"]))
    return f" ({'; '.join(parts)})" if parts else ""
