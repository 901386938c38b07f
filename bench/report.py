"""Benchmark results as JSON, a Markdown report with the ratios and aims, and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path

UNTRACED = ("tracing off", "bare Sanic", "FastAPI + uvicorn")
SYSTEMS = ("sanicms", "FastAPI + OpenTelemetry", "FastAPI + OpenTelemetry, httpx client")


def write(out: Path, meta: dict, results: dict) -> None:
    ratios = compute_ratios(results)
    (out / "results.json").write_text(json.dumps({"machine": meta, "ratios": ratios, **results}, indent=2))
    (out / "results.md").write_text(markdown(meta, results, ratios))
    chart(out / "results.png", results.get("scenarios", {}))


def _v(results: dict, scenario: str, variant: str) -> dict | None:
    return results.get("scenarios", {}).get(scenario, {}).get("variants", {}).get(variant)


def spans_of(results: dict, scenario: str, variant: str) -> float | None:
    """Spans per request of a variant (the exact count of the ``spans`` scenario)."""
    if any(word in variant for word in UNTRACED):
        return 0.0
    spans = results.get("spans", {})
    if "whole system" in scenario:
        variant = f"whole system: {variant}"
    elif variant == "sanicms (auth off)":
        variant = "sanicms"
    found = spans.get(variant)
    return found["per_request"] if found else None


def compute_ratios(results: dict) -> list[dict]:
    out = []

    def ratio(label: str, a: dict | None, b: dict | None, aim: str, key: str = "rps", met=None) -> None:
        if a and b and b[key]:
            value = round(a[key] / b[key], 3)
            out.append({"what": label, "ratio": value, "aim": aim, "met": None if met is None else met(value)})

    cities = "GET /cities/<id>"
    sanicms = _v(results, cities, "sanicms")
    ratio("traced: sanicms / Sanic + OpenTelemetry (req/s)", sanicms, _v(results, cities, "Sanic + OpenTelemetry"),
          "(issue 16 measured 1.7)")
    ratio("traced: sanicms / FastAPI + OpenTelemetry (req/s)", sanicms,
          _v(results, cities, "FastAPI + OpenTelemetry"), "(issue 16 measured 3.0)")
    system = "GET /users/<id>, whole system"
    ratio("whole system GET /users/<id>: sanicms / FastAPI + OpenTelemetry (req/s)", _v(results, system, "sanicms"),
          _v(results, system, "FastAPI + OpenTelemetry"), ">= 3", met=lambda r: r >= 3)
    ratio("whole system GET /users/<id>: sanicms / FastAPI + OpenTelemetry with httpx (req/s)",
          _v(results, system, "sanicms"), _v(results, system, "FastAPI + OpenTelemetry, httpx client"),
          "(the aim is against the aiohttp one)")
    ratio("whole system, 1 connection: FastAPI + OpenTelemetry p50 / sanicms p50",
          _v(results, system + ", 1 connection", "FastAPI + OpenTelemetry"),
          _v(results, system + ", 1 connection", "sanicms"), "(latency; > 1: sanicms faster)", key="p50_ms")
    ratio("tracing on / off (req/s)", sanicms, _v(results, cities, "sanicms, tracing off"),
          "(instructions: traced <= 1.10 x untraced)")
    ratio("sanicms, tracing off / bare Sanic + asyncpg (req/s)", _v(results, cities, "sanicms, tracing off"),
          _v(results, cities, "bare Sanic + asyncpg"), "(instructions: untraced <= 1.10 x bare)")
    ratio("sanicms / bare Sanic + asyncpg + orjson (req/s)", sanicms,
          _v(results, cities, "bare Sanic + asyncpg + orjson"), "")
    ratio("sanicms / FastAPI + uvicorn, untraced (req/s)", sanicms, _v(results, cities, "FastAPI + uvicorn"),
          "(sanicms traced, FastAPI not)")
    auth = "GET /cities/<id>, auth"
    off = _v(results, auth, "sanicms (auth off)")
    ratio("auth HS256 on / off (req/s)", _v(results, auth, "sanicms, auth HS256"), off, ">= 0.95",
          met=lambda r: r >= 0.95)
    ratio("auth RS256, key cached, on / off (req/s)", _v(results, auth, "sanicms, auth RS256 (JWKS, key cached)"),
          off, ">= 0.95", met=lambda r: r >= 0.95)
    for low, where in (("GET /users/<id>, 1 connection", "PostgreSQL on all CPUs"),
                       ("GET /users/<id>, 1 connection, PostgreSQL on the load CPU", "PostgreSQL with wrk")):
        conc, seq = _v(results, low, "concurrent fan-out"), _v(results, low, "sequential calls")
        city, role = _v(results, low, "city alone"), _v(results, low, "role alone")
        if conc and seq and city and role:
            # A one-query request of this framework (city alone) stands in for the user's own query.
            expected = city["p50_ms"] + max(city["p50_ms"], role["p50_ms"])
            value = round(conc["p50_ms"] / expected, 3)
            out.append({"what": f"fan-out p50 / (own query + slower neighbour) p50, 1 connection, {where}",
                        "ratio": value, "aim": "<= 1.5", "met": value <= 1.5})
            ratio(f"sequential p50 / concurrent p50, {where}", seq, conc, "> 1 (what concurrency saves)",
                  key="p50_ms")
    ratio("2 workers / 1 worker (req/s)", _v(results, "GET /cities/<id>, workers", "2 workers (all cores)"),
          _v(results, "GET /cities/<id>, workers", "1 worker (core 0)"), "> 1 (2 cores, shared with wrk)")
    return out


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**not met**")


def markdown(meta: dict, results: dict, ratios: list[dict]) -> str:
    scenarios = results.get("scenarios", {})
    lines = [f"`{meta['command']}`, started {meta['started']}. Machine: {meta['cpu']}, {meta['cores']} cores; "
             f"Python {meta['python']}; {meta['wrk']}. Servers on CPU {meta['server_cpus']}, wrk on CPU "
             f"{meta['load_cpus']} (unless a scenario says otherwise); {meta['rounds']} interleaved rounds of "
             f"{meta['duration_s']:g} s after {meta['warmup_s']:g} s warm-up, medians.", ""]
    headline = [(s, v) for s, names in (("GET /cities/<id>", ("sanicms", "Sanic + OpenTelemetry",
                                                               "FastAPI + OpenTelemetry")),
                                         ("GET /users/<id>, whole system", SYSTEMS),
                                         ("GET /users/<id>, whole system, 1 connection", SYSTEMS))
                for v in names if _v(results, s, v)]
    if headline:
        lines += ["**sanicms against what you would use instead** (all traced, 100% sampled, same collector):", "",
                  "| scenario | variant | conns | req/s | vs sanicms | p50 ms | p99 ms | spans / request | errors |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for s, name in headline:
            v, base = _v(results, s, name), _v(results, s, "sanicms")
            lines.append(f"| {s} | {name} | {scenarios[s]['connections']} | {v['rps']:,.0f} | "
                         f"{v['rps'] / base['rps']:.2f} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | "
                         f"{_fmt(spans_of(results, s, name))} | {v['errors']} |")
        lines.append("")
    lines += ["All runs:", "", "| scenario | variant | conns | req/s | p50 ms | p99 ms | spans / request | errors |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for scenario, data in scenarios.items():
        for variant, v in data["variants"].items():
            lines.append(f"| {scenario} | {variant} | {data['connections']} | {v['rps']:,.0f} | "
                         f"{v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {_fmt(spans_of(results, scenario, variant))} | "
                         f"{v['errors']} |")
    if ratios:
        lines += ["", "| ratio | measured | aim | verdict |", "| --- | ---: | --- | --- |"]
        lines += [f"| {r['what']} | {r['ratio']:.2f} | {r['aim']} | {_verdict(r['met'])} |" for r in ratios]
    if memory := results.get("memory"):
        lines += ["", f"Resident size (VmRSS) of one server process, one worker, fresh for each variant: after start "
                      f"(ready, one request served, 6 s idle) and after {meta['memory_s']:g} s of wrk at "
                      f"{meta['connections']} connections. Aims (issue 16): ≤ 50 MiB after start, ≤ 2 MiB growth.",
                  "", "| variant | after start MiB | after load MiB | growth MiB | requests |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for name, m in memory.items():
            lines.append(f"| {name} | {m['start_mib']:.1f} | {m['loaded_mib']:.1f} | {m['growth_mib']:+.1f} | "
                         f"{m['requests']:,} |")
    if spans := results.get("spans"):
        lines += ["", "Spans per request, counted by the collector for sequential requests on a quiet collector "
                      "(a whole system's: all three services'):", "",
                  "| variant | spans / request | which |", "| --- | ---: | --- |"]
        for name, s in spans.items():
            which = "; ".join(f"{k} {v:g}" for k, v in s["by_name"].items())
            lines.append(f"| {name} | {s['per_request']:.2f} | {which} |")
    if load := results.get("spans_under_load"):
        lines += ["", "Spans received per request sent, over the whole run under load (fewer than above: spans "
                      "dropped on the way; a little more: wrk does not count the requests still in flight when "
                      "it stops, up to one per connection and run):", "",
                  "| variant | requests | spans | spans / request |", "| --- | ---: | ---: | ---: |"]
        for name, s in load.items():
            lines.append(f"| {name} | {s['requests']:,} | {s['spans']:,} | {s['per_request']:.2f} |")
    return "\n".join(lines) + "\n"


def chart(path: Path, scenarios: dict) -> None:
    if not scenarios:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, rps, p50, p99 = [], [], [], []
    for scenario, data in scenarios.items():
        for variant, v in data["variants"].items():
            labels.append(f"{scenario}\n{variant} (c={data['connections']})")
            rps.append(v["rps"])
            p50.append(v["p50_ms"])
            p99.append(v["p99_ms"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 0.5 * len(labels) + 2), sharey=True)
    ys = range(len(labels))
    left.barh(ys, rps, color="#4878a8")
    left.set_xlabel("requests per second (median)")
    left.set_yticks(list(ys), labels, fontsize=8)
    left.invert_yaxis()
    right.barh([y - 0.2 for y in ys], p50, height=0.4, label="p50", color="#6aa56a")
    right.barh([y + 0.2 for y in ys], p99, height=0.4, label="p99", color="#d08050")
    right.set_xscale("log")
    right.set_xlabel("latency, ms (median of rounds, log scale)")
    right.legend()
    fig.suptitle("sanicms benchmark (make bench)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
