"""Resident size of one started city service process (one worker), in a few seconds.

``make bench`` measures memory per variant under load (``run.py``); this is the quick check
while working on what a serving process imports: the throwaway PostgreSQL, the city
database migrated, ``python -m city_service serve`` started (tracing on, as in the bench),
VmRSS read once ``/readyz`` answers 200 and one ``GET /cities/<id>`` was served, and the
heavy packages it loaded (or kept out).

    ../.venv/bin/python rss.py [--runs 3] [ENV=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from run import seed

from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import free_port, migrate

WATCHED = ("jwt", "cryptography", "jinja2", "swagger_ui", "psycopg2", "sqlite3", "pydantic", "peewee")


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
            return resp.status
    except OSError:
        return 0


def one(database_url: str, extra: dict[str, str]) -> tuple[int, list[str]]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "HOST": "127.0.0.1",
           "TRACING_ENABLED": "true", "TRACING_TRANSPORTS": "log", "LOG_LEVEL": "WARNING", **extra}
    probe = ("import sys,runpy;sys.argv=['city_service','serve'];import atexit;"
             f"atexit.register(lambda:open({str(Path(f'/tmp/rss-mods-{port}'))!r},'w')"
             f".write(' '.join(m for m in {WATCHED!r} if m in sys.modules)));"
             "runpy.run_module('city_service',run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", probe], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while status(url + "/readyz") != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the city service did not start")
            time.sleep(0.1)
        ids = seed(url, "/cities", [{"name": f"Rssville {port}", "province": "P"}])
        assert status(f"{url}/cities/{ids[0]}") == 200
        time.sleep(1)
        text = Path(f"/proc/{proc.pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in text.splitlines() if line.startswith("VmRSS:"))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    mods_file = Path(f"/tmp/rss-mods-{port}")
    loaded = mods_file.read_text().split() if mods_file.exists() else ["?"]
    mods_file.unlink(missing_ok=True)
    return rss, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("env", nargs="*", help="ENV=VALUE settings for the service")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    with throwaway_server() as pg:
        url = create_database(pg, "rss_city", fresh=True)
        migrate("city_service", {"DATABASE_URL": url})
        for _ in range(args.runs):
            rss, loaded = one(url, extra)
            print(f"VmRSS {rss / 1024:.1f} MiB; of {', '.join(WATCHED)} loaded: {', '.join(loaded) or 'none'}")


if __name__ == "__main__":
    main()
