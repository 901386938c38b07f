"""``make bench-instructions``: CPU instructions per request, counted by callgrind.

Requests per second on a shared 2-core VM swing by a factor of two from one round to the
next; instructions executed do not. Each variant's server processes run under
``valgrind --tool=callgrind`` twice: once started and stopped with no load, once with
``wrk`` for ``--seconds``; the difference in instructions (summed over a whole system's
three services for ``GET /users/<id>``) divided by the requests wrk completed is the
user-space cost of one request (the kernel's share, socket I/O, is not counted and is
about the same for every variant). Runs go ``--jobs`` at a time: their counts do not
depend on each other. Spans per request (spans the fake collector received from the
variant's processes during the loaded run, less the idle run's, / requests) are printed
beside, so that nobody compares unlike work.

``--only`` selects variants by their short names (``--list`` shows them).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

from auth_keys import HS256_SECRET, JwksServer, hs256_token
from collector import SpanCollector
from run import HERE, seed, service

from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import free_port, migrate


@dataclass
class Proc:
    """One server process of a variant: ``argv`` after the interpreter, ``env`` its settings
    (``{city}``/``{role}`` in a value: that process's URL), ``probe`` its readiness path
    (``{city_id}`` etc. filled in), ``traced``: "sanicms" or "otel" (how its spans are named)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    probe: str
    traced: str = ""


@dataclass
class Variant:
    short: str
    name: str
    procs: list[Proc]  # started in order; the last one is the one wrk loads
    path: str  # what wrk asks for
    auth: str = ""  # "hs256" / "rs256": requests carry such a token
    note: str = ""
    connections: int = 64


CITY = "/cities/{city_id}"
USER = "/users/{user_id}"
#: everything is ~50x slower under callgrind: a pool wait of DB_CONNECT_TIMEOUT's default 5 s is a
#: 503 under 64 connections when the machine is busy (a failed run); the per-request work is the same
SLOW_DB = {"DB_CONNECT_TIMEOUT": "60"}
SANICMS_TRACED = {"TRACING_ENABLED": "true", "TRACING_SAMPLE_RATE": "1.0", "ZIPKIN_URL": "{zipkin}"}


def city_proc(name: str = "city", **env: str) -> Proc:
    traced = env.get("TRACING_ENABLED", "true") == "true"
    return Proc(name, ["-m", "city_service", "serve"],
                {"DATABASE_URL": "{city_db}", **SANICMS_TRACED, **SLOW_DB, **env},
                "/healthz", "sanicms" if traced else "")


def fastapi_system(client: str = "aiohttp") -> list[Proc]:
    otel = {"ZIPKIN_URL": "{zipkin}"}
    return [
        Proc("city", ["peers/fastapi_otel.py", "city"], {"DATABASE_URL": "{city_db}", **otel}, CITY, "otel"),
        Proc("role", ["peers/fastapi_otel.py", "role"], {"DATABASE_URL": "{role_db}", **otel}, "/roles/{role_id}",
             "otel"),
        Proc("user", ["peers/fastapi_otel.py", "user"], {"DATABASE_URL": "{user_db}", **otel,
                                                         "CITY_SERVICE_URL": "{city}", "ROLE_SERVICE_URL": "{role}",
                                                         "PEER_CLIENT_TIMEOUT": "120", "PEER_HTTP_CLIENT": client},
             USER, "otel"),
    ]


def sanicms_system() -> list[Proc]:
    slow = {"CLIENT_TIMEOUT": "120", "CLIENT_CONNECT_TIMEOUT": "60"}  # everything is ~50x slower under callgrind
    return [
        city_proc(),
        Proc("role", ["-m", "role_service", "serve"], {"DATABASE_URL": "{role_db}", **SANICMS_TRACED}, "/healthz",
             "sanicms"),
        Proc("user", ["-m", "user_service", "serve"], {"DATABASE_URL": "{user_db}", **SANICMS_TRACED, **slow,
                                                       "CITY_SERVICE_URL": "{city}", "ROLE_SERVICE_URL": "{role}"},
             "/healthz", "sanicms"),
    ]


VARIANTS = [
    Variant("sanicms", "sanicms", [city_proc()], CITY),
    Variant("sanicms-untraced", "sanicms, tracing off", [city_proc(TRACING_ENABLED="false")], CITY),
    # Spans made, tagged and finished, but neither encoded nor sent: what exporting costs, by difference.
    Variant("sanicms-unexported", "sanicms, traced, spans not exported (no ZIPKIN_URL)",
            [replace(city_proc(ZIPKIN_URL=""), traced="")], CITY),
    Variant("sanicms-no-metrics", "sanicms, metrics off (METRICS_ENABLED=false)",
            [city_proc(METRICS_ENABLED="false")], CITY),
    # The replica URL is the same server (a second pool to it): the request path's work is a real
    # replica's; the server's is not counted here in any case (callgrind runs the service only).
    Variant("sanicms-replica", "sanicms, one read replica (DATABASE_REPLICA_URLS)",
            [city_proc(DATABASE_REPLICA_URLS="{city_db}")], CITY),
    Variant("bare", "bare Sanic + asyncpg (no sanic-ext)", [Proc("bare", ["peers/bare_sanic.py"],
                                                                {"DATABASE_URL": "{city_db}"}, CITY)], CITY),
    Variant("sanic-otel", "Sanic + OpenTelemetry", [Proc("sanic-otel", ["peers/sanic_otel.py"], {
        "DATABASE_URL": "{city_db}", "ZIPKIN_URL": "{zipkin}"}, CITY, "otel")], CITY),
    Variant("fastapi", "FastAPI + uvicorn", [Proc("fastapi", ["peers/fastapi_city.py"],
                                                  {"DATABASE_URL": "{city_db}"}, CITY)], CITY),
    Variant("fastapi-otel", "FastAPI + OpenTelemetry", [Proc("fastapi-otel", ["peers/fastapi_otel.py", "city"], {
        "DATABASE_URL": "{city_db}", "ZIPKIN_URL": "{zipkin}"}, CITY, "otel")], CITY),
    Variant("sanicms-auth-hs256", "sanicms, auth HS256",
            [city_proc(AUTH_ENABLED="true", AUTH_SECRET=HS256_SECRET)], CITY, auth="hs256"),
    Variant("sanicms-auth-rs256", "sanicms, auth RS256 (JWKS, key cached)",
            [city_proc(AUTH_ENABLED="true", AUTH_JWKS_URL="{jwks}")], CITY, auth="rs256"),
    Variant("system-sanicms", "whole system GET /users/<id>: sanicms", sanicms_system(), USER,
            note="city + role + user", connections=16),
    Variant("system-fastapi-otel", "whole system GET /users/<id>: FastAPI + OpenTelemetry (aiohttp client)",
            fastapi_system(), USER, note="city + role + user", connections=16),
    Variant("system-fastapi-otel-httpx", "whole system GET /users/<id>: FastAPI + OpenTelemetry (httpx client)",
            fastapi_system("httpx"), USER, note="city + role + user", connections=16),
]
BY_SHORT = {v.short: v for v in VARIANTS}
DEFAULT = [v.short for v in VARIANTS]


@dataclass
class Context:
    """What the variants' settings refer to."""

    values: dict[str, str]
    collector: SpanCollector
    jwks: JwksServer
    out: Path
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def fill(self, text: str, extra: dict[str, str]) -> str:
        return text.format(**self.values, **extra)


def count(variant: Variant, ctx: Context, seconds: int) -> dict:
    """One callgrind run of ``variant``: instructions per process, requests, spans."""
    ports = {p.name: free_port() for p in variant.procs}
    urls = {p.name: f"http://127.0.0.1:{port}" for p, port in zip(variant.procs, ports.values(), strict=True)}
    headers = ctx.headers.get(variant.auth, {})
    procs: list[tuple[Proc, subprocess.Popen, Path, str]] = []
    keys = []
    try:
        for p in variant.procs:
            env = {**os.environ, **{k: ctx.fill(v, urls) for k, v in p.env.items()}, "HOST": "127.0.0.1",
                   "PORT": str(ports[p.name]), "PYTHONMALLOC": "malloc"}  # valgrind sees every allocation
            if p.traced == "otel":
                env["OTEL_SERVICE_NAME"] = f"{variant.short}-{p.name}-{ports[p.name]}"
                keys.append(env["OTEL_SERVICE_NAME"])
            elif p.traced == "sanicms":
                keys.append(f"{p.argv[1].removesuffix('_service')}:{ports[p.name]}")
            tag = re.sub(r"\W+", "-", f"{variant.short}.{p.name}.{seconds}")
            cg_file = ctx.out / f"callgrind.{tag}"
            log = ctx.out / "logs" / f"callgrind-{tag}.log"
            with open(log, "wb") as out:  # the child writes to its own copy of the descriptor
                proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_file}",
                                         sys.executable, *p.argv], env=env, cwd=HERE, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            procs.append((p, proc, cg_file, log))
            _wait_ready(urls[p.name] + ctx.fill(p.probe, urls), proc, headers, log)
        spans_before = sum(ctx.collector.counts[k] for k in keys)
        requests = 0
        if seconds:
            url = urls[variant.procs[-1].name] + ctx.fill(variant.path, urls)
            cmd = ["wrk", "-t1", f"-c{variant.connections}", f"-d{seconds}s", "--timeout", "120s", url]
            for name, value in headers.items():
                cmd += ["-H", f"{name}: {value}"]
            report = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 300).stdout
            if "Non-2xx" in report or "Socket errors" in report:
                raise SystemExit(f"{variant.name}: failed requests under callgrind:\n{report}")
            requests = int(re.search(r"(\d+) requests in", report).group(1))
        time.sleep(1.5)  # sanicms's span reporter sends every second
    finally:
        for _, proc, _, _ in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc, _, _ in procs:
            try:
                proc.wait(300)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    instructions = {}
    for p, _, cg_file, _ in procs:
        totals = re.search(r"^(?:summary|totals):\s+(\d+)", cg_file.read_text(), re.MULTILINE)
        cg_file.unlink()
        instructions[p.name] = int(totals.group(1))
    return {"instructions": instructions, "requests": requests, "keys": keys, "spans_before": spans_before}


def _wait_ready(url: str, proc: subprocess.Popen, headers: dict, log: Path, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server under valgrind exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server under valgrind did not become ready; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=40, help="seconds of wrk per loaded run")
    parser.add_argument("--only", default="", help="comma-separated short names (default: all; see --list)")
    parser.add_argument("--jobs", type=int, default=3, help="callgrind runs at a time (idle and loaded separately)")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if args.list:
        for v in VARIANTS:
            print(f"{v.short:<22} {v.name}")
        return
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or DEFAULT
    if unknown := [s for s in chosen if s not in BY_SHORT]:
        parser.error(f"unknown variant(s): {', '.join(unknown)}; --list shows them")
    variants = [BY_SHORT[s] for s in chosen]
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    begun = time.monotonic()

    with throwaway_server() as pg:
        collector = SpanCollector().start()
        jwks = JwksServer().start()
        dbs = {}
        for name in ("city", "role", "user"):
            dbs[name] = create_database(pg, f"instructions_{name}", fresh=True)
            migrate(f"{name}_service", {"DATABASE_URL": dbs[name]})
        ids = seed_all(dbs, args.out / "logs")
        ctx = Context({**{f"{k}_db": v for k, v in dbs.items()}, **ids, "zipkin": collector.url, "jwks": jwks.url},
                      collector, jwks, args.out,
                      {"hs256": {"Authorization": f"Bearer {hs256_token()}"},
                       "rs256": {"Authorization": f"Bearer {jwks.token()}"}})
        try:
            with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
                futures = {(v.short, seconds): pool.submit(count, v, ctx, seconds)
                           for v in variants for seconds in (0, args.seconds)}
                runs = {key: future.result() for key, future in futures.items()}
            collector.quiet(3)
            results = {}
            for v in variants:
                idle, loaded = runs[v.short, 0], runs[v.short, args.seconds]
                spent = sum(loaded["instructions"].values()) - sum(idle["instructions"].values())
                spans = sum(collector.counts[k] for k in loaded["keys"]) - loaded["spans_before"]
                results[v.short] = {
                    "name": v.name, "path": v.path, "connections": v.connections, "requests": loaded["requests"],
                    "instructions_per_request": round(spent / loaded["requests"]),
                    "per_process": {p: round((loaded["instructions"][p] - idle["instructions"][p]) /
                                             loaded["requests"]) for p in loaded["instructions"]},
                    "spans_per_request": round(spans / loaded["requests"], 2),
                }
        finally:
            jwks.close()
            collector.close()
    minutes = (time.monotonic() - begun) / 60
    command = "make bench-instructions" + (f" INSTRUCTIONS_ARGS='{' '.join(sys.argv[1:])}'" if sys.argv[1:] else "")
    text = table(results, args.seconds, started, command, minutes)
    (args.out / "instructions.md").write_text(text)
    (args.out / "instructions.json").write_text(json.dumps(
        {"started": started, "command": command, "seconds": args.seconds, "variants": results}, indent=2))
    print(text)


def seed_all(dbs: dict[str, str], logs: Path) -> dict[str, str]:
    """One city, one role and one user referring to them, through the services themselves."""
    untraced = {"TRACING_ENABLED": "false"}
    city = service("seed-city", "city_service", {"DATABASE_URL": dbs["city"], **untraced})
    role = service("seed-role", "role_service", {"DATABASE_URL": dbs["role"], **untraced})
    user = service("seed-user", "user_service", {"DATABASE_URL": dbs["user"], **untraced,
                                                 "CITY_SERVICE_URL": city.url, "ROLE_SERVICE_URL": role.url})
    started = []
    try:
        for s in (city, role, user):
            started.append(s.start(logs))
        [city_id] = seed(city.url, "/cities", [{"name": "Counted", "province": "P"}])
        [role_id] = seed(role.url, "/roles", [{"name": "counted"}])
        [user_id] = seed(user.url, "/users", [{"name": "Counted", "age": 30, "sex": "f", "city_id": city_id,
                                               "role_id": role_id}])
    finally:
        for s in started:
            s.stop()
    return {"city_id": str(city_id), "role_id": str(role_id), "user_id": str(user_id)}


def table(results: dict, seconds: int, started: str, command: str, minutes: float) -> str:
    def ipr(short: str) -> int | None:
        return results.get(short, {}).get("instructions_per_request")

    lines = [f"`{command}`, started {started}, {minutes:.0f} min; {seconds} s of wrk per variant under callgrind "
             "(64 connections; a whole system: 16).", "",
             "| variant | requests | instructions / request | vs sanicms | spans / request |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for short, r in results.items():
        base = ipr("system-sanicms" if short.startswith("system-") else "sanicms")
        vs = f"{r['instructions_per_request'] / base:.2f}" if base else "–"
        per = ""
        if len(r["per_process"]) > 1:
            per = " (" + ", ".join(f"{p} {n / 1000:,.0f}k" for p, n in r["per_process"].items()) + ")"
        lines.append(f"| {r['name']}{per} | {r['requests']:,} | {r['instructions_per_request']:,} | {vs} | "
                     f"{r['spans_per_request']:.2f} |")
    aims = []

    def aim(label: str, a: str, b: str, limit: float) -> None:
        if ipr(a) and ipr(b):
            value = ipr(a) / ipr(b)
            aims.append(f"| {label} | {value:.2f} | ≤ {limit:.2f} | {'met' if value <= limit else '**not met**'} |")

    aim("traced sanicms / sanicms with tracing off", "sanicms", "sanicms-untraced", 1.10)
    aim("sanicms with tracing off / bare Sanic + asyncpg", "sanicms-untraced", "bare", 1.10)
    aim("traced sanicms / Sanic + OpenTelemetry", "sanicms", "sanic-otel", 0.30)
    aim("auth HS256 / auth off (instructions; the aim is ≤ 5% req/s)", "sanicms-auth-hs256", "sanicms", 1.05)
    aim("auth RS256 / auth off (instructions; the aim is ≤ 5% req/s)", "sanicms-auth-rs256", "sanicms", 1.05)
    aim("whole system: sanicms / FastAPI + OpenTelemetry", "system-sanicms", "system-fastapi-otel", 1 / 3)
    if aims:
        lines += ["", "| aim (instructions per request) | measured | aim | verdict |", "| --- | ---: | --- | --- |",
                  *aims]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
