"""Benchmark results as JSON, a Markdown table with the ratios, and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path


def write(out: Path, meta: dict, results: dict) -> None:
    ratios = compute_ratios(results)
    (out / "results.json").write_text(json.dumps({"machine": meta, "ratios": ratios, "scenarios": results},
                                                 indent=2))
    (out / "results.md").write_text(markdown(meta, results, ratios))
    chart(out / "results.png", results)


def _v(results: dict, scenario: str, variant: str) -> dict | None:
    return results.get(scenario, {}).get("variants", {}).get(variant)


def compute_ratios(results: dict) -> list[dict]:
    out = []

    def ratio(label: str, a: dict | None, b: dict | None, aim: str, key: str = "rps") -> None:
        if a and b and b[key]:
            out.append({"what": label, "ratio": round(a[key] / b[key], 3), "aim": aim})

    cities = "GET /cities/<id>"
    sanicms = _v(results, cities, "sanicms")
    ratio("1. sanicms / bare Sanic + asyncpg (req/s)", sanicms, _v(results, cities, "bare Sanic + asyncpg"), ">= 0.90")
    ratio("1. sanicms / bare Sanic + asyncpg + orjson (req/s)", sanicms,
          _v(results, cities, "bare Sanic + asyncpg + orjson"), ">= 0.90")
    ratio("1. sanicms, tracing off / bare Sanic + asyncpg (req/s)", _v(results, cities, "sanicms, tracing off"),
          _v(results, cities, "bare Sanic + asyncpg"), "(the framework without tracing)")
    ratio("2. sanicms / FastAPI + uvicorn (req/s)", sanicms, _v(results, cities, "FastAPI + uvicorn"), ">= 1.4")
    ratio("3. tracing on / off (req/s)", sanicms, _v(results, cities, "sanicms, tracing off"), ">= 0.90")
    low = "GET /users/<id>, 1 connection"
    conc, seq = _v(results, low, "concurrent fan-out"), _v(results, low, "sequential calls")
    city, role = _v(results, low, "city alone"), _v(results, low, "role alone")
    if conc and seq and city and role:
        # A one-query request of this framework (city alone) stands in for the user's own query.
        expected = city["p50_ms"] + max(city["p50_ms"], role["p50_ms"])
        out.append({"what": "4. fan-out p50 / (own query + slower call) p50", "ratio":
                    round(conc["p50_ms"] / expected, 3), "aim": "close to 1.0"})
        ratio("4. sequential p50 / concurrent p50", seq, conc, "> 1 (what concurrency saves)", key="p50_ms")
    ratio("6. 2 workers / 1 worker (req/s)", _v(results, "GET /cities/<id>, workers", "2 workers (all cores)"),
          _v(results, "GET /cities/<id>, workers", "1 worker (core 0)"), "> 1 (2 cores, shared with wrk)")
    return out


def markdown(meta: dict, results: dict, ratios: list[dict]) -> str:
    lines = [f"Machine: {meta['cpu']}, {meta['cores']} cores; Python {meta['python']}; {meta['wrk']}; "
             f"{meta['date']}. Servers on CPU {meta['server_cpus']}, wrk on CPU {meta['load_cpus']}; "
             f"{meta['rounds']} rounds of {meta['duration_s']:g} s after {meta['warmup_s']:g} s warm-up, "
             f"medians.", "",
             "| scenario | variant | conns | req/s | p50 ms | p99 ms | errors |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for scenario, data in results.items():
        for variant, v in data["variants"].items():
            lines.append(f"| {scenario} | {variant} | {data['connections']} | {v['rps']:,.0f} | "
                         f"{v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {v['errors']} |")
    lines += ["", "| ratio | measured | aim |", "| --- | ---: | --- |"]
    lines += [f"| {r['what']} | {r['ratio']:.2f} | {r['aim']} |" for r in ratios]
    return "\n".join(lines) + "\n"


def chart(path: Path, results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, rps, p50, p99 = [], [], [], []
    for scenario, data in results.items():
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
    right.set_xlabel("latency, ms (median of rounds)")
    right.legend()
    fig.suptitle("sanicms benchmark (make bench)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
