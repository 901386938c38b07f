"""sanic-ext's private internals that sanicms uses, each with its reason.

Pinned by ``libs/sanicms/tests/_compat/test_sanic_ext.py``. Used once per app, before the
server starts (:func:`sanicms.contract.openapi.split_shared_operations`).
"""

from __future__ import annotations

import copy
from typing import Any

from sanic_ext.extensions.openapi.builders import OperationBuilder, SpecificationBuilder


def operations() -> dict[str, dict[str, Any]]:
    """Every documented route's operations, by path, then by method (lower case)."""
    # SpecificationBuilder (a singleton) keeps them in _paths; sanic-ext has no public reader
    paths: dict[str, dict[str, Any]] = SpecificationBuilder()._paths
    return paths


def operation_id(operation: OperationBuilder) -> str:
    """The ``operationId`` sanic-ext made for ``operation`` (``"<method>~<route name>"``)."""
    # sanic-ext writes the id it makes into _default, under any id the handler gave itself
    return str(operation._default.get("operationId", ""))


def with_operation_id(operation: OperationBuilder, made_id: str) -> OperationBuilder:
    """A copy of ``operation`` whose made ``operationId`` is ``made_id`` (an id the handler
    gave itself still wins, as on the original); the original is unchanged."""
    clone = copy.copy(operation)
    # the copy gets its own _default (the made id lives there), not the one it shares with the original
    clone._default = {**operation._default, "operationId": made_id}
    return clone
