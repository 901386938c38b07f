"""``make bench``: sanicms measured against the bare stack and FastAPI, side by side.

Every comparison runs in the same session against the same PostgreSQL, its variants
interleaved round by round, so machine noise cancels in the ratios. Servers are pinned to
SERVER_CPUS; wrk, PostgreSQL, this script and the fake Zipkin to LOAD_CPUS. Medians of the
rounds are reported; results go to bench/results/ as JSON, Markdown and a PNG chart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake Zipkin collector of the test suite

from fakes import FakeZipkin  # noqa: E402
from wrk import Run, wrk  # noqa: E402

from sanicms.localdb import create_database, throwaway_server  # noqa: E402
from sanicms.processes import free_port, migrate  # noqa: E402

HERE = Path(__file__).resolve().parent
SERVER_CPUS = os.environ.get("SERVER_CPUS", "0")
LOAD_CPUS = os.environ.get("LOAD_CPUS", "1")
ALL_CPUS = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))


@dataclass
class Server:
    """A server process pinned with taskset; ``probe`` must answer 200 when it is ready."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    probe: str
    cpus: str = SERVER_CPUS
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> "Server":
        env = {**os.environ, **self.env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        log = open(log_dir / f"{self.name}.log", "ab")
        self.proc = subprocess.Popen(["taskset", "-c", self.cpus, *self.cmd], env=env, cwd=HERE,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited; see {log_dir / (self.name + '.log')}")
            try:
                with urllib.request.urlopen(self.url + self.probe, timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{self.name} did not become ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def service(name: str, package: str, env: dict[str, str], **kw) -> Server:
    return Server(name, [sys.executable, "-m", package, "serve"], env, "/healthz", **kw)


@dataclass
class Bench:
    rounds: int
    duration: float
    warmup: float
    log_dir: Path
    results: dict = field(default_factory=dict)

    def compare(self, scenario: str, variants: dict[str, str], *, connections: int, script: Path | None = None,
                note: str = "") -> dict[str, dict]:
        """Interleaved rounds of each variant (url), rotating the order; medians per variant."""
        runs: dict[str, list[Run]] = {name: [] for name in variants}
        names = list(variants)
        for r in range(self.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                wrk(variants[name], connections=connections, duration=self.warmup, cpus=LOAD_CPUS, script=script)
                run = wrk(variants[name], connections=connections, duration=self.duration, cpus=LOAD_CPUS,
                          script=script)
                runs[name].append(run)
                print(f"  {scenario:<28} {name:<26} round {r + 1}: {run.rps:9.0f} req/s  "
                      f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms  errors {run.errors}", flush=True)
        summary = {name: _median(rs) for name, rs in runs.items()}
        self.results[scenario] = {"connections": connections, "note": note, "variants": summary}
        return summary


def _median(runs: list[Run]) -> dict:
    return {
        "rps": round(statistics.median(r.rps for r in runs), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in runs), 3),
        "p99_ms": round(statistics.median(r.p99_ms for r in runs), 3),
        "errors": sum(r.errors for r in runs),
        "rounds": [r.as_dict() for r in runs],
    }


def pin_load_side() -> None:
    """This process (wrk's parent, the fake Zipkin) and PostgreSQL go to LOAD_CPUS, so the
    server under test has its core to itself; new PostgreSQL backends inherit the pinning."""
    import psutil

    cpus = [int(c) for c in LOAD_CPUS.split(",")]
    os.sched_setaffinity(0, cpus)
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and proc.info["name"].startswith("postgres"):
            try:
                proc.cpu_affinity(cpus)
            except psutil.Error:
                pass


def seed(url: str, path: str, rows: list[dict]) -> list[int]:
    ids = []
    for row in rows:
        req = urllib.request.Request(url + path, json.dumps(row).encode(), {"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            ids.append(json.loads(resp.read())["data"]["id"])
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 5)))
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", 8)))
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", default="", help="comma-separated scenario numbers (default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    only = {int(n) for n in args.only.split(",") if n}
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = args.out / "logs"
    log_dir.mkdir(exist_ok=True)

    with throwaway_server() as pg:
        pin_load_side()
        zipkin = FakeZipkin().start()
        bench = Bench(args.rounds, args.duration, args.warmup, log_dir)
        servers: list[Server] = []
        try:
            run_scenarios(bench, pg, zipkin, servers, args.connections, only)
        finally:
            for server in servers:
                server.stop()
            zipkin.close()
    meta = machine()
    meta.update(rounds=args.rounds, duration_s=args.duration, warmup_s=args.warmup, server_cpus=SERVER_CPUS,
                load_cpus=LOAD_CPUS, spans_received_by_fake_zipkin=len(zipkin.spans))
    from report import write
    write(args.out, meta, bench.results)
    print(f"results in {args.out}/results.md, results.json, results.png")


def run_scenarios(bench: Bench, pg: str, zipkin: FakeZipkin, servers: list, connections: int, only: set) -> None:
    def want(n: int) -> bool:
        return not only or n in only

    def up(server: Server) -> Server:
        servers.append(server.start(bench.log_dir))
        return server

    traced = {"TRACING_ENABLED": "true", "TRACING_SAMPLE_RATE": "1.0", "ZIPKIN_URL": zipkin.url,
              "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    city_db = create_database(pg, "bench_city", fresh=True)
    role_db = create_database(pg, "bench_role", fresh=True)
    user_db = create_database(pg, "bench_user", fresh=True)
    migrate("city_service", {"DATABASE_URL": city_db})
    migrate("role_service", {"DATABASE_URL": role_db})
    migrate("user_service", {"DATABASE_URL": user_db})

    city = up(service("sanicms-city", "city_service", {"DATABASE_URL": city_db, **traced}))
    city_ids = seed(city.url, "/cities", [{"name": f"City {i}", "province": "P"} for i in range(50)])
    path = f"/cities/{city_ids[len(city_ids) // 2]}"

    if want(1) or want(2) or want(3):
        untraced = up(service("sanicms-city-untraced", "city_service",
                              {"DATABASE_URL": city_db, "TRACING_ENABLED": "false", "LOG_FORMAT": "json"}))
        bare = up(Server("bare-sanic", [sys.executable, "peers/bare_sanic.py"], {"DATABASE_URL": city_db}, path))
        bare_orjson = up(Server("bare-sanic-orjson", [sys.executable, "peers/bare_sanic.py"],
                                {"DATABASE_URL": city_db, "BARE_JSON": "orjson"}, path))
        fastapi = up(Server("fastapi", [sys.executable, "peers/fastapi_city.py"], {"DATABASE_URL": city_db}, path))
        print(f"GET {path}: sanicms (tracing on / off), bare Sanic, FastAPI")
        bench.compare("GET /cities/<id>", {
            "sanicms": city.url + path, "sanicms, tracing off": untraced.url + path,
            "bare Sanic + asyncpg": bare.url + path, "bare Sanic + asyncpg + orjson": bare_orjson.url + path,
            "FastAPI + uvicorn": fastapi.url + path,
        }, connections=connections, note="scenarios 1-3")

    if want(4):
        # Three services on two cores: pinning them all to one core would serialise the very
        # calls whose concurrency is measured, so here the scheduler places them (ALL_CPUS).
        fan = ALL_CPUS
        city4 = up(service("sanicms-city-fanout", "city_service", {"DATABASE_URL": city_db, **traced}, cpus=fan))
        role = up(service("sanicms-role", "role_service", {"DATABASE_URL": role_db, **traced}, cpus=fan))
        role_ids = seed(role.url, "/roles", [{"name": f"role {i}"} for i in range(10)])
        downstream = {"CITY_SERVICE_URL": city4.url, "ROLE_SERVICE_URL": role.url}
        user = up(service("sanicms-user", "user_service", {"DATABASE_URL": user_db, **traced, **downstream},
                          cpus=fan))
        sequential = up(service("sanicms-user-sequential", "user_service",
                                {"DATABASE_URL": user_db, **traced, **downstream, "FETCH_CONCURRENTLY": "false"},
                                cpus=fan))
        [user_id] = seed(user.url, "/users", [{"name": "Bench", "age": 30, "sex": "f",
                                               "city_id": city_ids[0], "role_id": role_ids[0]}])
        upath = f"/users/{user_id}"
        print(f"GET {upath}: concurrent vs sequential fan-out")
        bench.compare("GET /users/<id>, 1 connection", {
            "concurrent fan-out": user.url + upath, "sequential calls": sequential.url + upath,
            "city alone": city4.url + f"/cities/{city_ids[0]}", "role alone": role.url + f"/roles/{role_ids[0]}",
        }, connections=1, note="scenario 4: latency")
        bench.compare("GET /users/<id>, high concurrency", {
            "concurrent fan-out": user.url + upath, "sequential calls": sequential.url + upath,
        }, connections=connections, note="scenario 4: throughput")

    if want(5):
        print("POST /cities")
        bench.compare("POST /cities", {"sanicms": city.url + "/cities"}, connections=connections,
                      script=HERE / "post_city.lua", note="scenario 5: transaction + insert")

    if want(6):
        two = up(service("sanicms-city-2-workers", "city_service",
                         {"DATABASE_URL": city_db, **traced, "WORKERS": "2"}, cpus=ALL_CPUS))
        print("workers: 1 vs 2")
        bench.compare("GET /cities/<id>, workers", {
            "1 worker (core 0)": city.url + path, "2 workers (all cores)": two.url + path,
        }, connections=connections, note="scenario 6: wrk and PostgreSQL share core 1 with the second worker")


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for package in ("sanic", "asyncpg", "fastapi", "uvicorn", "aiohttp"):
        try:
            from importlib.metadata import version
            versions[package] = version(package)
        except Exception:
            versions[package] = None
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [")[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "wrk": wrk_version.strip(), "versions": versions,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


if __name__ == "__main__":
    main()
