"""Exemplars: each bucket of the request duration histogram remembers the trace id of the
last sampled request that fell in it, so a slow bucket in Grafana leads to its trace.

prometheus-client keeps exemplars in its single-process values only, and its multiprocess
mode drops them. So the library keeps them itself, in one small dict per worker, and adds
them to the histogram's bucket samples when a scrape asks for OpenMetrics (the only format
that carries them). With several workers each one writes its dict to its file beside the
shared metric files now and then (``workers.py``); the scrape takes the newest per bucket.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from time import time
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar

from .instruments import BUCKETS

#: (family name, ((label, value), ...)) -- the histogram child an exemplar belongs to.
ChildKey = tuple[str, tuple[tuple[str, str], ...]]
#: (child key, bucket index) -> (trace id, observed value, unix time)
Latest = Mapping[tuple[ChildKey, int], tuple[str, float, float]]

_LE = [repr(float(bound)) for bound in BUCKETS] + ["+Inf"]


class ExemplarStore:
    """The newest sampled observation per bucket of this worker."""

    __slots__ = ("latest",)

    def __init__(self) -> None:
        self.latest: dict[tuple[ChildKey, int], tuple[str, float, float]] = {}

    def note(self, child: ChildKey, value: float, trace_id: str) -> None:
        self.latest[(child, bisect_left(BUCKETS, value))] = (trace_id, value, time())

    def dump(self) -> list[list[Any]]:
        """JSON-ready, for the worker's file."""
        return [[name, [list(pair) for pair in labels], bucket, *found]
                for ((name, labels), bucket), found in self.latest.items()]


def load(rows: Iterable[list[Any]]) -> dict[tuple[ChildKey, int], tuple[str, float, float]]:
    """What :meth:`ExemplarStore.dump` wrote."""
    return {((name, tuple((k, v) for k, v in labels)), bucket): (trace, value, when)
            for name, labels, bucket, trace, value, when in rows}


def newest(stores: Iterable[Latest]) -> dict[tuple[ChildKey, int], tuple[str, float, float]]:
    """Several workers' exemplars merged: per bucket, the most recent."""
    merged: dict[tuple[ChildKey, int], tuple[str, float, float]] = {}
    for store in stores:
        for key, found in store.items():
            if key not in merged or found[2] > merged[key][2]:
                merged[key] = found
    return merged


def attach(families: Iterable[Metric], latest: Latest) -> Iterator[Metric]:
    """The families, with exemplars on the bucket samples of the histograms that have some."""
    if not latest:
        yield from families
        return
    names = {key[0][0] for key in latest}
    by_le = {le: index for index, le in enumerate(_LE)}
    for family in families:
        if family.name in names:
            samples = []
            for sample in family.samples:
                if sample.name.endswith("_bucket") and sample.exemplar is None:
                    labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
                    index = by_le.get(_le(sample.labels.get("le", "")))
                    found = latest.get(((family.name, labels), index)) if index is not None else None
                    if found is not None:
                        sample = sample._replace(exemplar=Exemplar({"trace_id": found[0]}, found[1], found[2]))
                samples.append(sample)
            family.samples = samples
        yield family


def _le(text: str) -> str:
    """A bucket bound as this module writes it (prometheus-client writes ``0.005``, ``1.0``)."""
    try:
        return repr(float(text)) if text != "+Inf" else text
    except ValueError:
        return text
