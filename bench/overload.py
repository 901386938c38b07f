"""``make bench``'s overload scenario (``--only overload``), or on its own:

    cd bench && ../.venv/bin/python overload.py [--kind one|page] [--seconds 8] [--limit N] [--multiples 1 4]

One city worker (tracing off, pinned to SERVER_CPUS), without ``MAX_CONCURRENT_REQUESTS``, with
its default (100) and with 32 (about where the sweep below stops gaining throughput), under an
open-loop load (bench/openloop.py, on LOAD_CPUS) of 0.25 to 4 times its capacity: ``--kind one``
reads one city (``GET /cities/<id>``, the cheapest request there is), ``--kind page`` a page of 100
(``GET /cities?page_size=100``). The capacity is what wrk's closed loop gets from it at 64
connections (the median of three runs). The open loop sends over 256 keep-alive connections,
like wrk2's ``-c``; a request due while all are busy waits for one, and its latency counts
from when it was due. Each offered load is run against every variant in turn (the order alternating),
so the machine's drift hits both alike.

Per run: answers per second by status, the p99 of the 200s (the admitted requests) and of the
503s (the shed ones), requests with no answer, the server's CPU time, and (adaptive) where
its limit was at the end. The CPU a refusal costs is measured alone, at the end: a worker with
its one place held, under wrk. Also a closed-loop sweep of connections (1 to 256) without a limit, which
shows where throughput stops growing: what the default of MAX_CONCURRENT_REQUESTS is chosen
from. Results: bench/results/overload-<kind>.{json,md}, and docs/img/overload-<kind>.png.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from run import LOAD_CPUS, SERVER_CPUS, Server, pin_load_side, seed, service
from wrk import wrk

from sanicms.config import HttpSettings
from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import migrate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ("one", "page")
MULTIPLES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
SWEEP = (1, 2, 4, 8, 16, 32, 64, 128, 256)
#: A limit about where the sweep of one city's reads stops gaining throughput (4 to 32 in flight).
KNEE = 32
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(server: Server) -> float:
    """User and system CPU time of the server process so far."""
    assert server.proc is not None
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def open_loop(url: str, rate: float, seconds: float) -> dict:
    out = subprocess.run(["taskset", "-c", LOAD_CPUS, sys.executable, str(HERE / "openloop.py"), url,
                          "--rate", str(round(rate)), "--seconds", str(seconds), "--timeout", "35"],
                         capture_output=True, text=True, check=True, timeout=seconds + 120).stdout
    return json.loads(out)


def limit_now(server: Server) -> float | None:
    """The worker's limit as its metrics say (the adaptive one moves)."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=30) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("sanicms_http_concurrency_limit "):
                return float(line.split()[1])
    return None


def settle(server: Server, url: str) -> None:
    """Wait until the server has worked off what the last run left queued."""
    time.sleep(1.0)
    for _ in range(200):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as resp:
            resp.read()
        if time.perf_counter() - started < 0.01:
            return
        time.sleep(0.2)


def summarise(result: dict, cpu: float) -> dict:
    by = result["by_status"]
    ok, shed = by.get("200", {}), by.get("503", {})
    others = {s: v["count"] for s, v in by.items() if s not in ("200", "503")}
    # answers per second over the time they took: a server that falls behind answers the
    # run's requests long after it, and its rate is what it kept up, not what was offered
    seconds = max(result["seconds"], result.get("answering_s", 0.0))
    return {
        "offered_rps": result["rate"], "ok_rps": round(ok.get("count", 0) / seconds, 1),
        "shed_rps": round(shed.get("count", 0) / seconds, 1), "answering_s": seconds, "ok": ok.get("count", 0),
        "shed": shed.get("count", 0), "ok_p50_ms": ok.get("p50", 0.0), "ok_p99_ms": ok.get("p99", 0.0),
        "shed_p50_ms": shed.get("p50", 0.0), "shed_p99_ms": shed.get("p99", 0.0),
        "other_statuses": others, "no_answer": result["unanswered"] + result["broken"] + result["unsent"],
        "generator_late_p99_ms": result["late_ms"]["p99"], "cpu_s": round(cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=KINDS, default="one", help="one city, or a page of 100")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of load per run")
    parser.add_argument("--limits", type=int, nargs="+", default=None,
                        help="MAX_CONCURRENT_REQUESTS of the limited variants (default: the setting's default, and "
                             f"{KNEE}, about where the sweep's throughput stops growing)")
    parser.add_argument("--no-adaptive", dest="adaptive", action="store_false",
                        help="skip the variant with ADAPTIVE_CONCURRENCY (at most the default limit)")
    parser.add_argument("--multiples", type=float, nargs="+", default=list(MULTIPLES),
                        help="offered loads, as multiples of the capacity")
    parser.add_argument("--no-sweep", action="store_true", help="skip the closed-loop sweep of connections")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for every variant's worker, e.g. DB_POOL_MAX_SIZE=100")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--plot", type=Path, default=None, help="default: docs/img/overload-<kind>.png")
    args = parser.parse_args()
    measure(args.out, kind=args.kind, seconds=args.seconds, limits=args.limits, sweep=not args.no_sweep,
            plot_to=args.plot, multiples=tuple(args.multiples), adaptive=args.adaptive,
            env=dict(item.split("=", 1) for item in args.env))


def measure(out: Path, *, kind: str = "one", seconds: float = 8.0, limits: list[int] | None = None, sweep: bool = True,
            plot_to: Path | None = None, multiples: tuple[float, ...] = MULTIPLES, adaptive: bool = True,
            env: dict[str, str] | None = None) -> dict:
    """The whole scenario; ``make bench`` (bench/run.py) calls it for ``overload``."""
    out.mkdir(parents=True, exist_ok=True)
    log_dir = out / "logs"
    log_dir.mkdir(exist_ok=True)
    args = argparse.Namespace(seconds=seconds, no_sweep=not sweep, kind=kind, multiples=multiples, adaptive=adaptive,
                              env=env or {},
                              limits=limits or [HttpSettings().max_concurrent_requests, KNEE])
    results = run(args, log_dir)
    (out / f"overload-{kind}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"overload-{kind}.md").write_text(report(results))
    plot_to = plot_to or ROOT / "docs" / "img" / f"overload-{kind}.png"
    plot(results, plot_to)
    print(f"results in {out}/overload-{kind}.md, overload-{kind}.json; plot {plot_to}")
    return results


def run(args: argparse.Namespace, log_dir: Path) -> dict:
    load_before = os.getloadavg()
    # variant name: its settings
    limited = {f"limit {n}": {"MAX_CONCURRENT_REQUESTS": str(n)} for n in args.limits}
    if args.adaptive:
        ceiling = HttpSettings().max_concurrent_requests
        limited[f"adaptive {ceiling}"] = {"MAX_CONCURRENT_REQUESTS": str(ceiling), "ADAPTIVE_CONCURRENCY": "true"}
    results: dict = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "limits": args.limits,
                     "env": args.env,
                     "request": "GET /cities/<id>" if args.kind == "one" else "GET /cities?page_size=100",
                     "seconds": args.seconds, "server_cpus": SERVER_CPUS, "load_cpus": LOAD_CPUS,
                     "loadavg_before": [round(x, 2) for x in load_before],
                     "runs": {name: [] for name in ["no limit", *limited]}}
    with throwaway_server() as pg:
        pin_load_side()
        db = create_database(pg, "bench_overload_city", fresh=True)
        env = {"DATABASE_URL": db}
        migrate("city_service", env)
        common = {**env, "TRACING_ENABLED": "false", "LOG_LEVEL": "WARNING", "WORKERS": "1", **args.env}
        servers = {"no limit": service("city-unlimited", "city_service", {**common, "MAX_CONCURRENT_REQUESTS": "0"})}
        for name, settings in limited.items():
            servers[name] = service("city-" + name.replace(" ", "-"), "city_service", {**common, **settings})
        try:
            for server in servers.values():
                server.start(log_dir)
            rows = 1 if args.kind == "one" else 100
            ids = seed(servers["no limit"].url, "/cities",
                       [{"name": f"Overload {i}", "province": "P"} for i in range(rows)])
            path = f"/cities/{ids[0]}" if args.kind == "one" else "/cities?page_size=100"
            unlimited = servers["no limit"]
            if not args.no_sweep:
                results["sweep"] = []
                for connections in SWEEP:
                    r = wrk(unlimited.url + path, connections=connections, duration=5, cpus=LOAD_CPUS)
                    results["sweep"].append({"connections": connections, "rps": r.rps, "p50_ms": r.p50_ms,
                                             "p99_ms": r.p99_ms})
                    print(f"  sweep {connections:4d} connections: {r.rps:8.0f} req/s  p99 {r.p99_ms:8.2f} ms",
                          flush=True)
            rounds = sorted(wrk(unlimited.url + path, connections=64, duration=5, cpus=LOAD_CPUS).rps for _ in range(3))
            results["capacity_rps"] = capacity = rounds[1]
            results["capacity_rounds"] = rounds
            print(f"  capacity: {capacity:.0f} req/s (wrk, 64 connections, no limit; median of {rounds})", flush=True)
            for i, multiple in enumerate(args.multiples):
                order = list(servers) if i % 2 == 0 else list(reversed(servers))  # drift hits all alike
                for name in order:
                    server = servers[name]
                    settle(server, server.url + path)
                    before = cpu_seconds(server)
                    raw = open_loop(server.url + path, capacity * multiple, args.seconds)
                    row = {"multiple": multiple, **summarise(raw, cpu_seconds(server) - before),
                           "limit_after": limit_now(server)}
                    results["runs"][name].append(row)
                    print(f"  {name:<9} x{multiple:<4} offered {row['offered_rps']:7.0f}/s: 200 {row['ok_rps']:7.0f}/s "
                          f"p99 {row['ok_p99_ms']:8.1f} ms | 503 {row['shed_rps']:7.0f}/s p99 {row['shed_p99_ms']:7.1f}"
                          f" ms | no answer {row['no_answer']} | late p99 {row['generator_late_p99_ms']} ms"
                          f" | limit then {row['limit_after']}",
                          flush=True)
        finally:
            for server in servers.values():
                server.stop()
        results["refusal"] = cost = refusal_cost(common, log_dir, path)
        print(f"  a refusal alone: {cost['cpu_ms_per_refusal']} ms of CPU ({cost['refusals_per_s']}/s)", flush=True)
    results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]

    return results


def refusal_cost(common: dict[str, str], log_dir: Path, path: str) -> dict:
    """The CPU a refusal costs, measured alone: a worker whose one place is held by a request
    whose body never comes, under wrk (closed loop, 64 connections, 5 s): every answer is a 503."""
    server = service("city-refusing", "city_service", {**common, "MAX_CONCURRENT_REQUESTS": "1"})
    server.start(log_dir)
    host, port = server.url.removeprefix("http://").split(":")
    hold = socket.create_connection((host, int(port)), timeout=10)
    try:
        hold.sendall(b"POST /cities HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{")
        time.sleep(0.5)  # routed, counted in, waiting for the rest of its body
        before = cpu_seconds(server)
        r = wrk(server.url + path, connections=64, duration=5, cpus=LOAD_CPUS)
        cpu = cpu_seconds(server) - before
    finally:
        hold.close()
        server.stop()
    return {"refusals_per_s": round(r.rps), "refusals": r.requests, "not_503": r.requests - r.errors,
            "cpu_s": round(cpu, 2), "cpu_ms_per_refusal": round(cpu / max(1, r.requests) * 1000, 4)}


def report(results: dict) -> str:
    lines = [f"# Overload: {results['request']}, one worker, {results['started']}", "",
             f"Capacity (wrk, 64 connections, no limit, median of three 5 s runs): "
             f"{results['capacity_rps']:.0f} req/s. "
             f"MAX_CONCURRENT_REQUESTS of the limited variants: {results['limits']}. "
             f"Load average before and after: {results['loadavg_before']}, {results['loadavg_after']}. "
             f"A refusal alone (one place held, wrk at 64 connections): {results['refusal']['cpu_ms_per_refusal']} "
             f"ms of CPU, {results['refusal']['refusals_per_s']} refusals/s on one core.", ""]
    if results.get("sweep"):
        lines += ["| connections (closed loop, no limit) | req/s | p50 ms | p99 ms |", "|---:|---:|---:|---:|"]
        lines += [f"| {r['connections']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
                  for r in results["sweep"]]
        lines.append("")
    lines += ["| variant | offered | offered req/s | 200/s | 200 p50 ms | 200 p99 ms | 503/s | 503 p99 ms | "
              "no answer | server CPU s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rows in results["runs"].items():
        for r in rows:
            lines.append(f"| {name} | {r['multiple']}x | {r['offered_rps']:.0f} | {r['ok_rps']:.0f} | "
                         f"{r['ok_p50_ms']:.1f} | {r['ok_p99_ms']:.1f} | {r['shed_rps']:.0f} | "
                         f"{r['shed_p99_ms']:.1f} | {r['no_answer']} | {r['cpu_s']} |")
    return "\n".join(lines) + "\n"


def variant_label(name: str) -> str:
    if name == "no limit":
        return name
    kind, n = name.rsplit(" ", 1)
    return f"MAX_CONCURRENT_REQUESTS={n}" if kind == "limit" else f"ADAPTIVE_CONCURRENCY, at most {n}"


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    marks = [("tab:red", "o"), ("tab:blue", "s"), ("tab:green", "^"), ("tab:purple", "v")]
    styles = dict(zip(results["runs"], marks, strict=False))
    for name, rows in results["runs"].items():
        color, marker = styles[name]
        xs = [r["multiple"] for r in rows]
        label = variant_label(name)
        left.plot(xs, [r["ok_rps"] for r in rows], color=color, marker=marker, label=f"{label}: 200s")
        right.plot(xs, [r["ok_p99_ms"] if r["ok"] else float("nan") for r in rows], color=color, marker=marker,
                   label=f"{label}: 200s")
        if name != "no limit":
            left.plot(xs, [r["shed_rps"] for r in rows], color=color, marker=marker, linestyle=":",
                      label=f"{label}: 503s (shed)")
            right.plot(xs, [r["shed_p99_ms"] if r["shed"] else float("nan") for r in rows], color=color,
                       marker=marker, linestyle=":", label=f"{label}: 503s (shed)")
    left.set_xlabel("offered load (x capacity, open loop)")
    left.set_ylabel("answers per second")
    left.set_title(f"Throughput (capacity {results['capacity_rps']:.0f} req/s)")
    right.set_xlabel("offered load (x capacity, open loop)")
    right.set_ylabel("p99 latency, ms (log)")
    right.set_yscale("log")
    right.set_title("p99 latency")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{results['request']}, one worker; load average {results['loadavg_before'][0]} before",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
