"""What each package adds to a process's resident size, imported one after another on top of
the bare stack (Sanic, asyncpg, uvloop, orjson): the memory aim's breakdown.

    cd bench && ../.venv/bin/python import_cost.py aiohttp psycopg2 sqlite3 peewee pydantic jinja2 sanic_ext sanicms

Each figure depends on what came before it (shared dependencies count once, for the first
that imports them): keep the order when comparing runs.
"""

from __future__ import annotations

import importlib
import sys


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(names: list[str]) -> None:
    for base in ("sanic", "asyncpg", "uvloop", "orjson"):
        importlib.import_module(base)
    print(f"Sanic + asyncpg + uvloop + orjson: {rss_mib():.1f} MiB")
    for name in names:
        before = rss_mib()
        importlib.import_module(name)
        print(f"  + {name}: {rss_mib() - before:+.1f} MiB")
    print(f"total {rss_mib():.1f} MiB, {len(sys.modules)} modules")


if __name__ == "__main__":
    main(sys.argv[1:])
