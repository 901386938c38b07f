"""``make bench-instructions``: CPU instructions per request, counted by callgrind.

Requests per second on a shared 2-core VM swing by a factor of two from one round to the
next; instructions executed do not. Each variant's server runs under
``valgrind --tool=callgrind`` twice: once started and stopped with no load, once with
``wrk`` (64 connections) for ``--seconds``; the difference in instructions divided by the
requests wrk completed is the user-space cost of one request (the kernel's share, socket
I/O, is not counted and is the same for every variant). Variants run concurrently: their
counts do not depend on each other.
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
from pathlib import Path

from run import HERE, seed, service

from sanicms.localdb import create_database, throwaway_server
from sanicms.processes import free_port, migrate

VARIANTS = {
    "sanicms": ["-m", "city_service", "serve"],
    "sanicms, tracing off": ["-m", "city_service", "serve"],
    "bare Sanic + asyncpg": [str(HERE / "peers" / "bare_sanic.py")],
}


def count(name: str, db: str, zipkin_url: str, path: str, seconds: int, out: Path) -> tuple[int, int]:
    """(instructions, requests) for one callgrind run of variant ``name``."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db, "HOST": "127.0.0.1", "PORT": str(port),
           "PYTHONMALLOC": "malloc",  # so that valgrind sees every allocation as it happens
           "TRACING_ENABLED": "false" if "off" in name else "true", "ZIPKIN_URL": zipkin_url}
    tag = re.sub(r"\W+", "-", name)
    cg_file = out / f"callgrind.{tag}.{seconds}"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_file}",
                             sys.executable, *VARIANTS[name]], env=env, cwd=HERE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}{path}"
    try:
        _wait_ready(url, proc)
        requests = 0
        if seconds:
            report = subprocess.run(["wrk", "-t1", "-c64", f"-d{seconds}s", "--timeout", "60s", url],
                                    capture_output=True, text=True, check=True).stdout
            if "Non-2xx" in report or "Socket errors" in report:
                raise SystemExit(f"{name}: failed requests under callgrind:\n{report}")
            requests = int(re.search(r"(\d+) requests in", report).group(1))
        time.sleep(1.5)  # the span reporter's last batch
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(180)
    totals = re.search(r"^(?:summary|totals):\s+(\d+)", cg_file.read_text(), re.M)
    cg_file.unlink()
    return int(totals.group(1)), requests


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server under valgrind exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("server under valgrind did not become ready")


def per_request(name: str, db: str, zipkin_url: str, path: str, seconds: int, out: Path) -> dict:
    idle, _ = count(name, db, zipkin_url, path, 0, out)
    loaded, requests = count(name, db, zipkin_url, path, seconds, out)
    return {"requests": requests, "instructions_per_request": round((loaded - idle) / requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "tests"))
    from fakes import FakeZipkin

    with throwaway_server() as pg:
        zipkin = FakeZipkin().start()
        db = create_database(pg, "instructions_city", fresh=True)
        migrate("city_service", {"DATABASE_URL": db})
        seeder = service("seed-city", "city_service", {"DATABASE_URL": db, "TRACING_ENABLED": "false"})
        try:
            logs = args.out / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            [city_id] = seed(seeder.start(logs).url, "/cities", [{"name": "Counted", "province": "P"}])
        finally:
            seeder.stop()
        path = f"/cities/{city_id}"
        with concurrent.futures.ThreadPoolExecutor(len(VARIANTS)) as pool:
            futures = {name: pool.submit(per_request, name, db, zipkin.url, path, args.seconds, args.out)
                       for name in VARIANTS}
            results = {name: future.result() for name, future in futures.items()}
        zipkin.close()
    base = results["sanicms, tracing off"]["instructions_per_request"]
    bare = results["bare Sanic + asyncpg"]["instructions_per_request"]
    lines = [f"GET {path}, 64 connections, {args.seconds} s of wrk under callgrind per variant.", "",
             "| variant | requests | instructions / request | vs tracing off | vs bare |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        n = r["instructions_per_request"]
        lines.append(f"| {name} | {r['requests']:,} | {n:,} | {base / n:.2f} | {bare / n:.2f} |")
    text = "\n".join(lines) + "\n"
    (args.out / "instructions.md").write_text(text)
    (args.out / "instructions.json").write_text(json.dumps(results, indent=2))
    print(text)


if __name__ == "__main__":
    main()
