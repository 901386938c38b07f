"""What sanicms relies on in prometheus-client's internals (sanicms/_compat/prometheus_client.py).

A failure here after an upgrade names the internal that changed; fix the fence, not the callers.
"""

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.values import MutexValue

from sanicms._compat.prometheus_client import (
    Cell,
    counter_cell,
    histogram_cells,
    in_memory_values,
    values_to_files,
)


def samples(registry, name):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() if family.name == name for s in family.samples}


def test_a_counter_keeps_its_value_in_a_mutexvalue_at_value():
    child = Counter("c", "c", ("kind",), registry=CollectorRegistry()).labels("a")
    assert type(child._value) is MutexValue, "Counter's child no longer keeps a MutexValue in _value"
    assert child._value._value == 0.0, "MutexValue no longer keeps its float in _value"


def test_a_counter_cell_is_what_the_scrape_reads_and_what_inc_adds_to():
    registry = CollectorRegistry()
    child = Counter("requests", "r", ("kind",), registry=registry).labels("a")
    child.inc(2)
    cell = counter_cell(child)
    assert isinstance(cell, Cell) and cell.value == 2  # the count so far carried over
    cell.value += 1  # what the request path does
    assert samples(registry, "requests")[("requests_total", (("kind", "a"),))] == 3
    child.inc(4)  # the library's own path still lands in the cell
    assert cell.value == 7
    assert counter_cell(child) is cell  # resolved once; again is the same cell


def test_an_exemplar_survives_the_cell():
    registry = CollectorRegistry()
    child = Counter("traced", "t", registry=registry)
    child.inc(1, exemplar={"trace_id": "abc"})
    counter_cell(child)
    [sample] = [s for f in registry.collect() for s in f.samples if s.name == "traced_total"]
    assert sample.exemplar is not None and sample.exemplar.labels == {"trace_id": "abc"}


def test_histogram_cells_are_its_sum_and_one_uncumulated_value_per_bound():
    registry = CollectorRegistry()
    child = Histogram("took", "t", ("kind",), buckets=(1.0, 2.0), registry=registry).labels("a")
    assert len(child._buckets) == 3, "Histogram no longer keeps one value per bound (+Inf last) in _buckets"
    assert type(child._sum) is MutexValue, "Histogram no longer keeps its sum in _sum"
    total, buckets = histogram_cells(child)
    assert all(isinstance(c, Cell) for c in (total, *buckets))
    total.value += 1.5  # observe(1.5), as the request path does it
    buckets[1].value += 1
    child.observe(0.5)  # and as the library does it
    seen = samples(registry, "took")
    kind = ("kind", "a")
    assert seen[("took_bucket", (kind, ("le", "1.0")))] == 1
    assert seen[("took_bucket", (kind, ("le", "2.0")))] == 2  # cumulative in the scrape
    assert seen[("took_bucket", (kind, ("le", "+Inf")))] == 2
    assert seen[("took_count", (kind,))] == 2
    assert seen[("took_sum", (kind,))] == 2.0
    assert histogram_cells(child) == (total, buckets)


def test_values_are_in_memory_until_the_process_writes_to_files(tmp_path, monkeypatch):
    assert in_memory_values(), "values.ValueClass is not MutexValue in a plain process"
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)  # undone after the test
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    values_to_files()
    assert not in_memory_values()
    assert getattr(values.ValueClass, "_multiprocess", False), "ValueClass is not the file-backed kind"
    child = Counter("shared", "s", registry=None)
    value = counter_cell(child)
    assert not isinstance(value, Cell)  # a file-backed value: added to with inc, never in place
    value.inc(2)
    collected = CollectorRegistry()
    MultiProcessCollector(collected, path=str(tmp_path))
    assert samples(collected, "shared")[("shared_total", ())] == 2
