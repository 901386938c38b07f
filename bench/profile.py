"""``make profile``: where the city service's time goes under load, with tracing on.

py-spy samples the server (pinned to SERVER_CPUS) while wrk drives ``GET /cities/<id>``;
the collapsed stacks are summed into self time per function and time inside each of the
framework's own modules, the numbers the README quotes.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
from pathlib import Path

from collector import SpanCollector
from run import HERE, LOAD_CPUS, pin_load_side, seed, service

from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tracing", choices=["on", "off"], default="on")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    raw = args.out / f"profile-tracing-{args.tracing}.txt"
    with throwaway_server() as pg:
        pin_load_side()
        zipkin = SpanCollector().start()
        db = create_database(pg, "profile_city", fresh=True)
        migrate("city_service", {"DATABASE_URL": db})
        env = {"DATABASE_URL": db, "ZIPKIN_URL": zipkin.url, "TRACING_ENABLED": str(args.tracing == "on").lower()}
        city = service("profiled-city", "city_service", env).start(_logs(args.out))
        try:
            [city_id] = seed(city.url, "/cities", [{"name": "Profiled", "province": "P"}])
            url = f"{city.url}/cities/{city_id}"
            load = ["taskset", "-c", LOAD_CPUS, "wrk", "-t1", "-c64", "--latency"]
            subprocess.run([*load, "-d2s", url], capture_output=True, check=True)  # warm-up
            spy = subprocess.Popen([py_spy, "record", "-d", str(args.seconds), "-r", "250", "-f", "raw",
                                    "-o", str(raw), "--pid", str(city.proc.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([*load, f"-d{args.seconds}s", url], capture_output=True, check=True)
            spy.wait(60)
        finally:
            city.stop()
            zipkin.close()
    print(summary(raw))


def _logs(out: Path) -> Path:
    logs = out / "logs"  # git-ignored
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def summary(raw: Path, top: int = 20) -> str:
    own, modules, total = collections.Counter(), collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for module in {_module(f) for f in frames
                       if ("sanicms/" in f or "opentracing/" in f) and "sanicms/cli.py" not in f}:
            modules[module] += n
    lines = [f"{total} samples", "", "self time, top functions:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "time inside each sanicms module (inclusive):"]
    lines += [f"  {100 * n / total:5.1f}%  {module}" for module, n in modules.most_common()]
    return "\n".join(lines)


def _module(frame: str) -> str:
    return frame[frame.index("(") + 1:].split(":")[0]


if __name__ == "__main__":
    main()
