"""``make bench``: sanicms measured against what a team would use instead, side by side.

Every comparison runs in the same session against the same PostgreSQL and the same fake
Zipkin collector, its variants interleaved round by round, so machine noise cancels in the
ratios. Servers are pinned to SERVER_CPUS; wrk, PostgreSQL, this script and the collector
to LOAD_CPUS. Medians of the rounds are reported; results go to bench/results/ as JSON,
Markdown and a PNG chart.

Scenarios (``--only`` takes a comma-separated list of their names; default: all):

- ``cities``: ``GET /cities/<id>``, traced sanicms against Sanic + OpenTelemetry and FastAPI +
  OpenTelemetry (the headline), and the bare-stack tax: sanicms with tracing off against a
  truly bare Sanic + asyncpg handler (ujson and orjson) and untraced FastAPI.
- ``auth``: sanicms with access control on (HS256 secret; RS256 with the JWKS key cached)
  against the same service with it off.
- ``system``: ``GET /users/<id>`` of the whole three-service system, sanicms against the
  same system in FastAPI + OpenTelemetry, every service on SERVER_CPUS; 64 connections and 1.
- ``fanout``: the sanicms user service's concurrent calls against sequential ones, and the
  city and role services alone, at 1 connection (latency) and at 64 (services on all CPUs).
- ``post``: ``POST /cities`` (transaction + insert).
- ``workers``: 1 worker against 2.
- ``memory``: resident size (VmRSS) of one fresh server process per variant after start and
  after ``--memory-seconds`` of load at 64 connections.
- ``overload``: one city worker with and without ``MAX_CONCURRENT_REQUESTS`` under an open-loop
  load of 0.25 to 4 times its capacity, reading one city and a page of 100 (bench/overload.py;
  its own PostgreSQL, after the rest).
- ``replicas``: ``GET /cities/<id>`` read from the primary alone, from a streaming replica, and
  from both in turn (bench/replicas.py; a primary and replica of its own, after the rest).
- ``spans``: spans per request of every traced variant, counted exactly (``--span-requests``
  sequential requests on a quiet collector); spans per request under load (spans the
  collector got from a server / requests it served) come with every run.
"""

from __future__ import annotations

import argparse
import contextlib
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

from auth_keys import HS256_SECRET, JwksServer, hs256_token
from collector import SpanCollector
from wrk import Run, wrk

from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import free_port, migrate

HERE = Path(__file__).resolve().parent
SERVER_CPUS = os.environ.get("SERVER_CPUS", "0")
LOAD_CPUS = os.environ.get("LOAD_CPUS", "1")
ALL_CPUS = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
#: The fan-out latency scenario; report.py judges the aim on it, by this name.
FANOUT = "GET /users/<id>, 1 connection"
SCENARIOS = ("cities", "auth", "system", "fanout", "post", "workers", "memory", "spans", "overload", "replicas")


@dataclass
class Server:
    """A server process pinned with taskset; ``probe`` must answer 200 when it is ready.

    ``span_keys`` name the collector's senders whose spans this server's requests cause
    (bench/collector.py); ``requests`` counts the requests sent to it by this script."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    probe: str
    cpus: str = SERVER_CPUS
    port: int = field(default_factory=free_port)
    headers: dict[str, str] = field(default_factory=dict)
    span_keys: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    requests: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> Server:
        env = {**os.environ, **self.env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        with open(log_dir / f"{self.name}.log", "ab") as log:  # the child writes to its own copy
            self.proc = subprocess.Popen(["taskset", "-c", self.cpus, *self.cmd], env=env, cwd=HERE,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited; see {log_dir / (self.name + '.log')}")
            try:
                if get(self.url + self.probe, self.headers) == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{self.name} did not become ready")

    def rss_kib(self) -> int:
        """VmRSS of the server process (taskset execs it: same pid)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def get(url: str, headers: dict[str, str] | None = None) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as resp:
        resp.read()
        return resp.status


def service(name: str, package: str, env: dict[str, str], *, traced_as: str | None = None, **kw) -> Server:
    """A sanicms service; ``traced_as`` (its SERVICE_NAME) when it reports spans."""
    server = Server(name, [sys.executable, "-m", package, "serve"], env, "/healthz", **kw)
    if traced_as:
        server.span_keys = [f"{traced_as}:{server.port}"]
    return server


def peer(name: str, script: list[str], env: dict[str, str], probe: str, *, otel_name: str | None = None,
         **kw) -> Server:
    """A peer in bench/peers/; ``otel_name`` (its OTEL_SERVICE_NAME) when it is traced."""
    if otel_name:
        env = {**env, "OTEL_SERVICE_NAME": otel_name}
    server = Server(name, [sys.executable, *script], env, probe, **kw)
    if otel_name:
        server.span_keys = [otel_name]
    return server


@dataclass
class Target:
    """What one variant's wrk runs hit: ``server`` + ``path``; ``also`` are the servers whose
    spans this variant's requests cause too (a fan-out's neighbours)."""

    server: Server
    path: str
    also: list[Server] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url + self.path

    @property
    def span_keys(self) -> list[str]:
        return [key for s in (self.server, *self.also) for key in s.span_keys]


@dataclass
class Bench:
    rounds: int
    duration: float
    warmup: float
    log_dir: Path
    collector: SpanCollector
    results: dict = field(default_factory=dict)

    def compare(self, scenario: str, variants: dict[str, Target], *, connections: int, script: Path | None = None,
                note: str = "") -> dict[str, dict]:
        """Interleaved rounds of each variant, rotating the order; medians per variant."""
        runs: dict[str, list[Run]] = {name: [] for name in variants}
        names = list(variants)
        for r in range(self.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                t = variants[name]
                kw = dict(connections=connections, cpus=LOAD_CPUS, script=script, headers=t.server.headers)
                if self.warmup > 0:
                    t.server.requests += wrk(t.url, duration=self.warmup, **kw).requests
                run = wrk(t.url, duration=self.duration, **kw)
                t.server.requests += run.requests
                runs[name].append(run)
                print(f"  {scenario:<34} {name:<30} round {r + 1}: {run.rps:9.0f} req/s  "
                      f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms  errors {run.errors}", flush=True)
        summary = {name: _median(rs) for name, rs in runs.items()}
        self.results.setdefault("scenarios", {})[scenario] = {"connections": connections, "note": note,
                                                              "variants": summary}
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
    """This process (wrk's parent, the collector) and PostgreSQL go to LOAD_CPUS, so the
    server under test has its core to itself."""
    os.sched_setaffinity(0, _cpu_list(LOAD_CPUS))
    pin_postgres(LOAD_CPUS)


def pin_postgres(cpus: str) -> None:
    """PostgreSQL's processes to ``cpus``; the backends it starts from now on inherit it."""
    import psutil

    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and proc.info["name"].startswith("postgres"):
            with contextlib.suppress(psutil.Error):
                proc.cpu_affinity(_cpu_list(cpus))


def _cpu_list(cpus: str) -> list[int]:
    return [int(c) for c in cpus.split(",")]


def seed(url: str, path: str, rows: list[dict], headers: dict[str, str] | None = None) -> list[int]:
    ids = []
    for row in rows:
        req = urllib.request.Request(url + path, json.dumps(row).encode(),
                                     {"content-type": "application/json", **(headers or {})})
        with urllib.request.urlopen(req, timeout=10) as resp:
            ids.append(json.loads(resp.read())["data"]["id"])
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 5)))
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", 8)),
                        help="seconds measured per variant and round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--memory-seconds", type=float, default=20.0, help="load before the second RSS reading")
    parser.add_argument("--span-requests", type=int, default=200, help="requests per variant for the span count")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios: {', '.join(SCENARIOS)} "
                                                   "(default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := only - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = args.out / "logs"
    log_dir.mkdir(exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if only == {"overload"}:  # a PostgreSQL of its own, none of the servers below
        import overload
        for kind in overload.KINDS:
            overload.measure(args.out, kind=kind, seconds=args.duration)
        return
    if only == {"replicas"}:  # a primary and a streaming replica of its own
        import replicas
        replicas.measure(args.out, seconds=args.duration, rounds=args.rounds)
        return

    with throwaway_server() as pg:
        pin_load_side()
        collector = SpanCollector().start()
        jwks = JwksServer().start()
        bench = Bench(args.rounds, args.duration, args.warmup, log_dir, collector)
        servers: list[Server] = []
        try:
            run_scenarios(bench, args, pg, jwks, servers, only or set(SCENARIOS))
        finally:
            for server in servers:
                server.stop()
            jwks.close()
            collector.close()
    meta = machine()
    meta.update(started=started, rounds=args.rounds, duration_s=args.duration, warmup_s=args.warmup,
                connections=args.connections, memory_s=args.memory_seconds, server_cpus=SERVER_CPUS,
                load_cpus=LOAD_CPUS, command="make bench" + (f" BENCH_ARGS='{' '.join(sys.argv[1:])}'"
                                                             if sys.argv[1:] else ""),
                spans_received=collector.total, jwks_fetches=jwks.fetches)
    from report import write
    write(args.out, meta, bench.results)
    print(f"results in {args.out}/results.md, results.json, results.png")
    if "overload" in (only or set(SCENARIOS)):
        import overload
        print("overload: open-loop load of 0.25 to 4 times the capacity, with and without MAX_CONCURRENT_REQUESTS")
        for kind in overload.KINDS:
            overload.measure(args.out, kind=kind, seconds=args.duration)
    if "replicas" in (only or set(SCENARIOS)):
        import replicas
        print("replicas: GET /cities/<id> read from the primary, a replica, and both")
        replicas.measure(args.out, seconds=args.duration, rounds=args.rounds)


def run_scenarios(bench: Bench, args, pg: str, jwks: JwksServer, servers: list, only: set) -> None:
    connections = args.connections

    def up(server: Server) -> Server:
        servers.append(server.start(bench.log_dir))
        return server

    def done(exact: dict[str, Target], keep: tuple[Server, ...] = ()) -> None:
        """A scenario is over: count its traced variants' spans (scenario ``spans``), note the
        spans they sent under load, and stop its servers (PostgreSQL allows 100 clients; each
        server's pool holds up to 10 connections for minutes after its load)."""
        if "spans" in only:
            for name, target in exact.items():
                if name in bench.results.get("spans", {}):
                    continue  # counted after an earlier scenario
                s = bench.results.setdefault("spans", {})[name] = count_spans(bench.collector, target,
                                                                              args.span_requests)
                print(f"  {name:<40} {s['per_request']:.2f} spans per request  {s['by_name']}", flush=True)
        bench.collector.quiet()
        # Variants that share neighbours (the FastAPI users share city and role) make one row.
        groups: dict[tuple, list[str]] = {}
        for name, target in exact.items():
            if target.server.requests and target.server not in keep:
                groups.setdefault(tuple(sorted(id(s) for s in target.also)) or (name,), []).append(name)
        for names in groups.values():
            targets = [exact[n] for n in names]
            keys = {k for t in targets for k in t.span_keys}
            spans = sum(bench.collector.counts[k] for k in keys)
            requests = sum(t.server.requests for t in targets)
            bench.results.setdefault("spans_under_load", {})[" + ".join(names)] = {
                "requests": requests, "spans": spans, "per_request": round(spans / requests, 2)}
        for server in [s for s in servers if s not in keep]:
            server.stop()
            servers.remove(server)

    zipkin = bench.collector.url
    traced = {"TRACING_ENABLED": "true", "TRACING_SAMPLE_RATE": "1.0", "ZIPKIN_URL": zipkin,
              "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    otel = {"ZIPKIN_URL": zipkin}
    city_db = create_database(pg, "bench_city", fresh=True)
    role_db = create_database(pg, "bench_role", fresh=True)
    user_db = create_database(pg, "bench_user", fresh=True)
    migrate("city_service", {"DATABASE_URL": city_db})
    migrate("role_service", {"DATABASE_URL": role_db})
    migrate("user_service", {"DATABASE_URL": user_db})
    city_env = {"DATABASE_URL": city_db}

    city = up(service("sanicms-city", "city_service", {**city_env, **traced}, traced_as="city"))
    city_ids = seed(city.url, "/cities", [{"name": f"City {i}", "province": "P"} for i in range(50)])
    path = f"/cities/{city_ids[len(city_ids) // 2]}"
    hs256 = {"Authorization": f"Bearer {hs256_token()}"}
    rs256 = {"Authorization": f"Bearer {jwks.token()}"}

    # Each variant of GET /cities/<id>: how to make a fresh server of it (memory needs fresh ones).
    def make(name: str) -> Server:
        makers = {
            "sanicms": lambda: service("sanicms-city-" + tag, "city_service", {**city_env, **traced},
                                       traced_as="city"),
            "sanicms, tracing off": lambda: service("sanicms-city-untraced-" + tag, "city_service",
                                                    {**city_env, "TRACING_ENABLED": "false", "LOG_FORMAT": "json"}),
            "sanicms, auth HS256": lambda: service("sanicms-city-hs256-" + tag, "city_service", {
                **city_env, **traced, "AUTH_ENABLED": "true", "AUTH_SECRET": HS256_SECRET}, traced_as="city",
                headers=hs256),
            "sanicms, auth RS256 (JWKS, key cached)": lambda: service("sanicms-city-rs256-" + tag, "city_service", {
                **city_env, **traced, "AUTH_ENABLED": "true", "AUTH_JWKS_URL": jwks.url}, traced_as="city",
                headers=rs256),
            "bare Sanic + asyncpg": lambda: peer("bare-sanic-" + tag, ["peers/bare_sanic.py"], city_env, path),
            "bare Sanic + asyncpg + orjson": lambda: peer("bare-sanic-orjson-" + tag, ["peers/bare_sanic.py"],
                                                          {**city_env, "BARE_JSON": "orjson"}, path),
            "FastAPI + uvicorn": lambda: peer("fastapi-" + tag, ["peers/fastapi_city.py"], city_env, path),
            "Sanic + OpenTelemetry": lambda: peer("sanic-otel-" + tag, ["peers/sanic_otel.py"],
                                                  {**city_env, **otel}, path, otel_name="sanic-otel-city-" + tag),
            "FastAPI + OpenTelemetry": lambda: peer("fastapi-otel-" + tag, ["peers/fastapi_otel.py", "city"],
                                                    {**city_env, **otel}, path,
                                                    otel_name="fastapi-otel-city-" + tag),
        }
        return makers[name]()

    tag = "main"
    if "spans" in only:
        print(f"spans per request: {args.span_requests} sequential requests per variant on a quiet collector,"
              " after each scenario")

    if "cities" in only:
        names = ["sanicms", "Sanic + OpenTelemetry", "FastAPI + OpenTelemetry", "sanicms, tracing off",
                 "bare Sanic + asyncpg", "bare Sanic + asyncpg + orjson", "FastAPI + uvicorn"]
        targets = {"sanicms": Target(city, path)}
        targets.update({name: Target(up(make(name)), path) for name in names[1:]})
        print(f"GET {path}: sanicms against Sanic + OTel and FastAPI + OTel (traced), and the bare stack")
        bench.compare("GET /cities/<id>", targets, connections=connections,
                      note="traced vs traced, and the bare-stack tax")
        done({n: targets[n] for n in ("sanicms", "Sanic + OpenTelemetry", "FastAPI + OpenTelemetry")},
             keep=(city,))

    if "auth" in only:
        names = ["sanicms, auth HS256", "sanicms, auth RS256 (JWKS, key cached)"]
        targets = {"sanicms (auth off)": Target(city, path)}
        targets.update({name: Target(up(make(name)), path) for name in names})
        print(f"GET {path}: access control on (HS256, RS256) and off")
        bench.compare("GET /cities/<id>, auth", targets, connections=connections, note="auth cost, tracing on")
        done({name: targets[name] for name in names}, keep=(city,))

    role_ids: list[int] = []
    user_id = 0

    def system(label: str, cpus: str, sanicms_env: dict[str, str] | None = None) -> tuple[Server, Server, Server]:
        nonlocal role_ids, user_id
        c = up(service(f"sanicms-city-{label}", "city_service", {**city_env, **traced}, traced_as="city",
                       cpus=cpus))
        r = up(service(f"sanicms-role-{label}", "role_service", {"DATABASE_URL": role_db, **traced},
                       traced_as="role", cpus=cpus))
        if not role_ids:
            role_ids = seed(r.url, "/roles", [{"name": f"role {i}"} for i in range(10)])
        downstream = {"CITY_SERVICE_URL": c.url, "ROLE_SERVICE_URL": r.url}
        u = up(service(f"sanicms-user-{label}", "user_service", {"DATABASE_URL": user_db, **traced, **downstream,
                                                                  **(sanicms_env or {})},
                       traced_as="user", cpus=cpus))
        if not user_id:
            [user_id] = seed(u.url, "/users", [{"name": "Bench", "age": 30, "sex": "f",
                                                "city_id": city_ids[0], "role_id": role_ids[0]}])
        return c, r, u

    if "system" in only:
        c, r, u = system("system", SERVER_CPUS)
        upath = f"/users/{user_id}"
        fc = up(peer("fastapi-otel-city-system", ["peers/fastapi_otel.py", "city"], {**city_env, **otel},
                     f"/cities/{city_ids[0]}", otel_name="fastapi-otel-city-system"))
        fr = up(peer("fastapi-otel-role-system", ["peers/fastapi_otel.py", "role"],
                     {"DATABASE_URL": role_db, **otel}, f"/roles/{role_ids[0]}", otel_name="fastapi-otel-role-system"))
        user_env = {"DATABASE_URL": user_db, **otel, "CITY_SERVICE_URL": fc.url, "ROLE_SERVICE_URL": fr.url}
        fu = up(peer("fastapi-otel-user-system", ["peers/fastapi_otel.py", "user"], user_env, upath,
                     otel_name="fastapi-otel-user-system"))
        fux = up(peer("fastapi-otel-httpx-user-system", ["peers/fastapi_otel.py", "user"],
                      {**user_env, "PEER_HTTP_CLIENT": "httpx"}, upath, otel_name="fastapi-otel-httpx-user-system"))
        # The two FastAPI users share the FastAPI city and role: only one variant is loaded at a time.
        targets = {"sanicms": Target(u, upath, [c, r]), "FastAPI + OpenTelemetry": Target(fu, upath, [fc, fr]),
                   "FastAPI + OpenTelemetry, httpx client": Target(fux, upath, [fc, fr])}
        print(f"GET {upath}: the whole system, sanicms against FastAPI + OTel (all services on CPU {SERVER_CPUS})")
        bench.compare("GET /users/<id>, whole system", targets, connections=connections,
                      note=f"city, role and user services all on CPU {SERVER_CPUS}")
        bench.compare("GET /users/<id>, whole system, 1 connection", targets, connections=1,
                      note=f"city, role and user services all on CPU {SERVER_CPUS}")
        done({f"whole system: {n}": t for n, t in targets.items()}, keep=(city,))

    if "fanout" in only:
        # Three services on two cores: pinning them all to one core would serialise the very
        # calls whose concurrency is measured, so here the scheduler places them (ALL_CPUS).
        # PostgreSQL too, first: on the load CPU it runs the two neighbours' queries one after
        # the other, which the neighbours measured alone never wait for. Each latency is
        # measured both ways; the aim is judged on the first.
        pin_postgres(ALL_CPUS)  # before the services connect: their backends inherit it
        c4, r4, u4 = system("fanout", ALL_CPUS)
        sequential = up(service("sanicms-user-sequential", "peers.sequential_user", {
            "DATABASE_URL": user_db, **traced, "CITY_SERVICE_URL": c4.url, "ROLE_SERVICE_URL": r4.url},
            traced_as="user", cpus=ALL_CPUS))
        upath = f"/users/{user_id}"
        print(f"GET {upath}: concurrent vs sequential fan-out")
        latency = {
            "concurrent fan-out": Target(u4, upath), "sequential calls": Target(sequential, upath),
            "city alone": Target(c4, f"/cities/{city_ids[0]}"), "role alone": Target(r4, f"/roles/{role_ids[0]}"),
        }
        bench.compare(FANOUT, latency, connections=1,
                      note="fan-out latency (services and PostgreSQL on all CPUs)")
        pin_postgres(LOAD_CPUS)  # the backends already open included
        bench.compare(FANOUT + ", PostgreSQL on the load CPU", latency, connections=1,
                      note=f"fan-out latency (services on all CPUs, PostgreSQL on CPU {LOAD_CPUS} with wrk)")
        bench.compare("GET /users/<id>, high concurrency", {
            "concurrent fan-out": Target(u4, upath), "sequential calls": Target(sequential, upath),
        }, connections=connections, note="fan-out throughput (services on all CPUs)")
        done({}, keep=(city,))

    if "post" in only:
        poster = up(service("sanicms-city-post", "city_service", {**city_env, **traced}, traced_as="city"))
        print("POST /cities")
        bench.compare("POST /cities", {"sanicms": Target(poster, "/cities")}, connections=connections,
                      script=HERE / "post_city.lua", note="transaction + insert")
        done({}, keep=(city,))

    if "workers" in only:
        two = up(service("sanicms-city-2-workers", "city_service", {**city_env, **traced, "WORKERS": "2"},
                         cpus=ALL_CPUS))
        print("workers: 1 vs 2")
        bench.compare("GET /cities/<id>, workers", {
            "1 worker (core 0)": Target(city, path), "2 workers (all cores)": Target(two, path),
        }, connections=connections, note="wrk and PostgreSQL share core 1 with the second worker")
        done({}, keep=(city,))

    if "memory" in only:
        print(f"memory: VmRSS after start and after {args.memory_seconds:g} s of load, a fresh process each")
        memory = {}
        for name in ["sanicms", "sanicms, tracing off", "sanicms, auth HS256", "sanicms, auth RS256 (JWKS, key cached)",
                     "bare Sanic + asyncpg", "FastAPI + uvicorn", "Sanic + OpenTelemetry", "FastAPI + OpenTelemetry"]:
            tag = "memory"
            server = make(name).start(bench.log_dir)
            try:
                memory[name] = rss_under_load(server, path, args.memory_seconds, connections)
            finally:
                server.stop()
            m = memory[name]
            print(f"  {name:<40} after start {m['start_mib']:6.1f} MiB  after load {m['loaded_mib']:6.1f} MiB  "
                  f"growth {m['growth_mib']:+5.1f} MiB  ({m['requests']} requests)", flush=True)
        bench.results["memory"] = memory

    done({"sanicms": Target(city, path)})  # the main city server (counted already if a scenario above did)


def rss_under_load(server: Server, path: str, seconds: float, connections: int) -> dict:
    """VmRSS once ready, one request served and its spans sent (6 s: the OpenTelemetry batch
    processor's first export, at 5 s, loads its HTTP client), then after ``seconds`` of wrk."""
    get(server.url + path, server.headers)
    time.sleep(6.0)
    start = server.rss_kib()
    run = wrk(server.url + path, connections=connections, duration=seconds, cpus=LOAD_CPUS, headers=server.headers)
    loaded = server.rss_kib()
    return {"start_mib": round(start / 1024, 1), "loaded_mib": round(loaded / 1024, 1),
            "growth_mib": round((loaded - start) / 1024, 1), "requests": run.requests, "errors": run.errors}


def count_spans(collector: SpanCollector, target: Target, n: int) -> dict:
    """Spans the collector receives for ``n`` sequential requests to ``target``."""
    collector.quiet()
    before_counts, before_names = collector.snapshot(), collector.names.copy()
    for _ in range(n):
        if get(target.url, target.server.headers) != 200:
            raise SystemExit(f"{target.url} did not answer 200")
    target.server.requests += n
    collector.quiet()
    keys = target.span_keys
    spans = sum(collector.counts[k] - before_counts[k] for k in keys)
    by_name = {}
    for key, count in collector.names.items():
        who, _, span_name = key.partition(" ")
        if who in keys and count - before_names[key]:
            label = f"{who.split(':')[0]}: {span_name}"
            by_name[label] = by_name.get(label, 0) + round((count - before_names[key]) / n, 2)
    return {"requests": n, "spans": spans, "per_request": round(spans / n, 2), "by_name": by_name}


def machine() -> dict:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    versions = {}
    for package in ("sanic", "asyncpg", "fastapi", "uvicorn", "aiohttp", "httpx", "opentelemetry-sdk",
                    "opentelemetry-instrumentation-sanic", "opentelemetry-instrumentation-fastapi", "PyJWT"):
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
