"""prometheus-client's internals that sanicms uses, each with its reason.

Pinned by ``libs/sanicms/tests/_compat/test_prometheus_client.py``. The request path adds to
its counters and histograms without a Python call (see docs/benchmarks.md, "Figures from the
code"): the cells are resolved here once per label child, and the request path bumps their
public ``value``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import values
from prometheus_client.values import MutexValue


class Cell(MutexValue):
    """An in-memory value whose float is the public attribute ``value``: the request path adds
    to it in place (one process, one thread: the scrape runs on the same one), while the
    library's own methods (``inc``, ``set``, ``get`` for the scrape) keep working under its lock."""

    value: float

    @property
    def _value(self) -> float:  # MutexValue's methods keep the float in _value: an alias of ``value``
        return self.value

    @_value.setter
    def _value(self, value: float) -> None:
        self.value = value


def in_memory_values() -> bool:
    """Whether the values made from now on are in-memory floats (not multiprocess files)."""
    # values.ValueClass: the class every new value is made from, swapped in multiprocess mode (undocumented)
    return values.ValueClass is MutexValue


def values_to_files() -> None:
    """From now on, new values live in this process's files in ``PROMETHEUS_MULTIPROC_DIR``."""
    if in_memory_values():
        # the library picks ValueClass once, at import; a worker told the directory later swaps it here
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def counter_cell(child: Any) -> Any:
    """What a counter child adds to, resolved once: in memory a :class:`Cell` (``cell.value +=
    1`` is ``child.inc()`` without the checks and the lock), in multiprocess mode the library's
    file-backed value (``inc(amount)``)."""
    # Counter keeps its value object in _value, and offers no cheaper public way to add to it
    cell = child._value = _as_cell(child._value)
    return cell


def histogram_cells(child: Any) -> tuple[Any, list[Any]]:
    """A histogram child's sum and bucket cells (as :func:`counter_cell`'s): observing ``v`` is
    adding ``v`` to the sum and 1 to ``buckets[bisect_left(bounds, v)]``, as ``observe(v)`` does."""
    # Histogram keeps its sum in _sum and one (not cumulative) value per bound in _buckets, +Inf last
    child._sum = _as_cell(child._sum)
    child._buckets[:] = [_as_cell(bucket) for bucket in child._buckets]
    return child._sum, child._buckets


def _as_cell(value: Any) -> Any:
    """``value`` as a :class:`Cell` if it is an in-memory one (a Cell already, or a file-backed
    value: unchanged)."""
    if type(value) is not MutexValue:
        return value
    cell = Cell("", "", "", (), (), "")  # type: ignore[no-untyped-call]  # MutexValue ignores them
    cell.set(value.get())  # type: ignore[no-untyped-call]
    cell.set_exemplar(value.get_exemplar())  # type: ignore[no-untyped-call]
    return cell
