"""The shared directory of several workers, read as a scrape reads it: a dead worker's
counters stay in the sum, its gauges and its file go; figures come per live worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from prometheus_client.mmap_dict import MmapedDict, mmap_key

from sanicms.metrics import workers
from sanicms.metrics.exemplars import ExemplarStore


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write(path: str, family: str, sample: str, value: float) -> None:
    values = MmapedDict(path)
    values.write_value(mmap_key(family, sample, [], [], "help"), value, 0.0)
    values.close()


def test_a_dead_workers_counters_stay_and_its_gauges_and_file_go(tmp_path, monkeypatch):
    monkeypatch.setenv(workers.DIR_ENV, "")  # prepare() names the directory there: undone after
    directory = str(tmp_path)
    workers.prepare(directory)
    gone = dead_pid()
    write(os.path.join(directory, f"counter_{gone}.db"), "sanicms_http_requests", "sanicms_http_requests_total", 7.0)
    in_flight = "sanicms_http_requests_in_flight"
    write(os.path.join(directory, f"gauge_livesum_{gone}.db"), in_flight, in_flight, 3.0)
    sidecar = os.path.join(directory, f"sanicms_worker_{gone}.json")
    with open(sidecar, "w") as out:
        json.dump({"pid": gone, "process": [], "exemplars": []}, out)
    store = ExemplarStore()
    store.note(("sanicms_http_request_duration_seconds", (("method", "GET"), ("route", "/x"))), 0.003, "ab" * 16)
    files = workers.WorkerFiles(directory, store)

    families = {f.name: f for f in workers.SharedCollector(files).collect()}

    assert [s.value for s in families["sanicms_http_requests"].samples] == [7.0]
    assert in_flight not in families
    assert not os.path.exists(os.path.join(directory, f"gauge_livesum_{gone}.db"))
    assert not os.path.exists(sidecar)
    assert {s.labels["pid"] for s in families["process_cpu_seconds"].samples} == {str(os.getpid())}
    assert os.path.exists(files.path)
    files.leave()
    assert not os.path.exists(files.path)


def test_prepare_empties_the_directory_of_metric_files_only(tmp_path, monkeypatch):
    monkeypatch.setenv(workers.DIR_ENV, "")
    (tmp_path / "counter_1.db").write_bytes(b"x")
    (tmp_path / "sanicms_worker_1.json").write_text("{}")
    (tmp_path / "keep.txt").write_text("mine")
    workers.prepare(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert os.environ[workers.DIR_ENV] == str(tmp_path)
