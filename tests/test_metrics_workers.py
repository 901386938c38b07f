"""Metrics with several workers, with real processes: the city service with WORKERS=2.

While load runs, repeated scrapes never see a counter go down; once it is over, one scrape's
count of ``GET /cities/{id}`` is exactly the requests sent, though two workers served them
(each worker's own file says it served some); process figures come per worker (``pid``).
A restarted service's first scrape has nothing left of the previous run.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import json
import os
import urllib.request

import aiohttp
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from sanicms.testing.localdb import create_database
from sanicms.testing.processes import ServiceProcess, eventually, free_port, migrate

REQUESTS = 400
ROUTE = "/cities/{id}"


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of one scrape, by name and labels."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def monotonic_samples(samples: dict) -> dict:
    """The samples that may only grow: counters, histogram buckets, counts and sums."""
    return {k: v for k, v in samples.items()
            if k[0].endswith(("_total", "_bucket", "_count", "_sum")) and k[0] != "process_start_time_seconds"}


def worker_pids(samples: dict) -> set[str]:
    return {dict(labels)["pid"] for (name, labels) in samples if name == "process_cpu_seconds_total"}


def route_count(samples: dict, route: str = ROUTE) -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == "sanicms_http_requests_total" and dict(labels).get("route") == route)


def start(env: dict, port: int, log) -> ServiceProcess:
    service = ServiceProcess("city_service", port, env, log_path=log).start()
    service.wait_workers(2)
    return service


@pytest.fixture
def city_env(pg_server, tmp_path):
    env = {"DATABASE_URL": create_database(pg_server, "metrics_workers", fresh=True), "WORKERS": "2",
           "LOG_LEVEL": "INFO", "METRICS_MULTIPROC_DIR": str(tmp_path / "metrics"),
           "METRICS_REFRESH_INTERVAL": "0.2"}
    migrate("city_service", env)
    return env


async def load(url: str, city_id: int) -> int:
    """REQUESTS GETs, a new connection each (so both workers accept some), 8 at a time."""
    sent = 0
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as http:
        async def one() -> None:
            nonlocal sent
            async with http.get(f"{url}/cities/{city_id}") as resp:
                assert resp.status == 200
                sent += 1
        for _ in range(REQUESTS // 8):
            await asyncio.gather(*(one() for _ in range(8)))
    return sent


def per_worker_counts(directory: str) -> list[float]:
    counts = []
    for path in glob.glob(os.path.join(directory, "counter_*.db")):
        families = MultiProcessCollector.merge([path], accumulate=False)
        counts.append(sum(s.value for f in families for s in f.samples
                          if s.name == "sanicms_http_requests_total" and s.labels.get("route") == ROUTE))
    return counts


def test_two_workers_sum_in_every_scrape_and_a_restart_starts_clean(city_env, tmp_path):
    port = free_port()
    log = tmp_path / "city.log"
    city = start(city_env, port, log)
    try:
        request = urllib.request.Request(city.url + "/cities", method="POST",
                                         data=b'{"name": "Lyon", "province": "Rhone"}',
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            city_id = json.loads(resp.read())["data"]["id"]

        async def load_and_scrape() -> tuple[int, list[dict]]:
            task = asyncio.create_task(load(city.url, city_id))
            scrapes = []
            while not task.done():
                scrapes.append(monotonic_samples(await asyncio.to_thread(scrape, city.url)))
            return await task, scrapes

        sent, scrapes = asyncio.run(load_and_scrape())
        scrapes.append(monotonic_samples(scrape(city.url)))
        assert sent == REQUESTS and len(scrapes) >= 3
        for before, after in itertools.pairwise(scrapes):
            went_down = {k: (before[k], after[k]) for k in before if k in after and after[k] < before[k]}
            assert not went_down, went_down
            assert set(before) - set(after) == set(), "a series vanished between scrapes"
        assert route_count(scrapes[-1]) == REQUESTS
        counts = per_worker_counts(city_env["METRICS_MULTIPROC_DIR"])
        assert len(counts) == 2 and all(c > 0 for c in counts) and sum(counts) == REQUESTS, counts

        # each worker's file is written every 0.2 s: both pids show up
        def both_pids() -> set[str] | None:
            found = worker_pids(scrape(city.url))
            return found if len(found) == 2 else None

        pids = eventually(both_pids, "process figures of both workers")
    finally:
        city.stop()

    city = start(city_env, port, log)
    try:
        first = scrape(city.url)
        assert route_count(first) == 0
        served = {dict(labels).get("route") for (name, labels) in first if name == "sanicms_http_requests_total"}
        assert served <= {"/readyz", "/metrics"}, served  # only what readiness checks asked since the start
        assert not worker_pids(first) & pids, "a process figure of a dead worker"
        assert per_worker_counts(city_env["METRICS_MULTIPROC_DIR"]) in ([], [0.0], [0.0, 0.0])
    finally:
        city.stop()
