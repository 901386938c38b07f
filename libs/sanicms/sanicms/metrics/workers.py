"""Several workers, one scrape: prometheus-client's multiprocess mode, plus what it leaves out.

Sanic runs ``WORKERS > 1`` as separate processes, and a scrape reaches one of them. Each
worker's counters, histograms and gauges live in files of its own (``<kind>_<pid>.db``) in a
directory the workers share; whichever worker answers the scrape adds them all up
(``MultiProcessCollector``). So a scrape returns the sum over workers, and counters never go
backwards: the files of a worker that died stay and keep counting in the sum, while its
gauges (``livesum``) are dropped as soon as a scrape finds it dead. The main process empties
the directory when the service starts, so a restarted service starts clean.

Multiprocess mode carries no exemplars and no process figures (CPU, memory, GC are per
process). Each worker writes those to one more small file, ``sanicms_worker_<pid>.json``,
every ``METRICS_REFRESH_INTERVAL`` seconds and when it answers a scrape (first, then it reads
them all): process figures with a ``pid`` label, and per bucket the newest exemplar of any worker.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from .._compat.prometheus_client import values_to_files
from ..config import Settings
from . import exemplars
from .exemplars import ExemplarStore

#: The variable prometheus-client reads; the main process sets it for the workers it spawns.
DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_SIDECAR = "sanicms_worker_{pid}.json"
_PID = re.compile(r"_(\d+)\.(?:db|json)$")


def shared_dir(settings: Settings) -> str:
    """``METRICS_MULTIPROC_DIR``, or one per service and port under the temporary directory."""
    chosen: str = settings.metrics.multiproc_dir
    if chosen:
        return chosen
    name = re.sub(r"[^\w.-]", "_", settings.service.name)
    return os.path.join(tempfile.gettempdir(), f"sanicms-metrics-{name}-{settings.service.port}")


def prepare(directory: str) -> None:
    """In the main process, before the workers start: an empty directory, named to them."""
    os.makedirs(directory, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")) + glob.glob(os.path.join(directory, "sanicms_worker_*")):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    os.environ[DIR_ENV] = directory


def shared(directory: str) -> bool:
    """Is this process a worker that the main process prepared ``directory`` for?"""
    return os.environ.get(DIR_ENV) == directory and os.path.isdir(directory)


def write_to_shared_files() -> None:
    """From now on, new metric values live in this process's files in the shared directory."""
    values_to_files()


def process_collectors() -> CollectorRegistry:
    """The library's standard process, GC and platform collectors, in a registry of their own."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class WorkerFiles:
    """This worker's sidecar file, and the view of every worker's a scrape needs."""

    def __init__(self, directory: str, store: ExemplarStore | None) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.store = store
        self.process = process_collectors()
        self.path = os.path.join(directory, _SIDECAR.format(pid=self.pid))
        self._writing = threading.Lock()  # the timer and a scrape may write at once (threads)

    def write(self) -> None:
        """Now and then (a thread: file I/O): this worker's process figures and exemplars."""
        content = {"pid": self.pid, "process": [_dump(f) for f in self.process.collect()],
                   "exemplars": self.store.dump() if self.store is not None else []}
        temporary = f"{self.path}.tmp"
        with self._writing:
            with open(temporary, "w") as out:
                json.dump(content, out)
            os.replace(temporary, self.path)  # readers see the old file or the new one, never half

    def leave(self) -> None:
        """At the worker's graceful stop: its gauges and its file go, its counters stay."""
        mark_process_dead(self.pid, self.directory)  # type: ignore[no-untyped-call]
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)

    def everyone(self) -> list[dict[str, Any]]:
        """Every live worker's file, this one's written just now; the dead ones' files are
        cleared away on the way. Figures come from the files only, never fresh from this
        process, so that a counter read by one worker is never ahead of what another worker
        answering the next scrape can read."""
        self.write()
        found = []
        for pid in self._pids():
            if pid != self.pid and not _alive(pid):
                mark_process_dead(pid, self.directory)  # type: ignore[no-untyped-call]
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(self.directory, _SIDECAR.format(pid=pid)))
                continue
            try:
                with open(os.path.join(self.directory, _SIDECAR.format(pid=pid))) as src:
                    found.append(json.load(src))
            except (FileNotFoundError, ValueError):  # not written yet
                continue
        return found

    def _pids(self) -> set[int]:
        pids = set()
        for name in os.listdir(self.directory):
            match = _PID.search(name)
            if match and (name.startswith("gauge_live") or name.startswith("sanicms_worker_")):
                pids.add(int(match.group(1)))
        return pids


class SharedCollector:
    """What a scrape of a worker returns: every worker's metric files added up, the process
    figures of each live worker (label ``pid``), and the newest exemplars of all."""

    def __init__(self, files: WorkerFiles) -> None:
        self.files = files
        self.registry = CollectorRegistry()
        self.summed = MultiProcessCollector(self.registry, files.directory)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterator[Metric]:
        workers = self.files.everyone()  # first: a dead worker's live gauges go before they are summed
        stores = [exemplars.load(worker.get("exemplars", [])) for worker in workers]
        summed = self.summed.collect()  # type: ignore[no-untyped-call]
        yield from exemplars.attach(summed, exemplars.newest(stores))
        families: dict[str, Metric] = {}
        for worker in workers:
            for family in worker["process"]:
                _add(families, family, str(worker["pid"]))
        yield from families.values()


def _dump(family: Metric) -> dict[str, Any]:
    return {"name": family.name, "documentation": family.documentation, "type": family.type,
            "unit": family.unit, "samples": [[s.name, s.labels, s.value] for s in family.samples]}


def _add(families: dict[str, Metric], dumped: dict[str, Any], pid: str) -> None:
    family = families.get(dumped["name"])
    if family is None:
        family = families[dumped["name"]] = Metric(dumped["name"], dumped["documentation"], dumped["type"],
                                                    dumped["unit"])
    for name, labels, value in dumped["samples"]:
        family.add_sample(name, {**labels, "pid": pid}, value)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now: ours is gone
        return False
    return True
