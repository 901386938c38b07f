"""``make demo``: PostgreSQL, migrations, seed data, the three services; Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

from localstack import LocalStack

from sanicms.auth import DEVELOPMENT_SECRET, mint
from sanicms.testing.localdb import throwaway_server

#: Access control is on in the demo, with the public development key.
AUTH_ENV = {"AUTH_ENABLED": "true", "AUTH_SECRET": DEVELOPMENT_SECRET}
READ = ["city:read", "role:read", "user:read"]
WRITE = [*READ, "city:write", "role:write", "user:write"]

CITIES = [{"name": "Shanghai", "province": "Shanghai"}, {"name": "Hangzhou", "province": "Zhejiang"},
          {"name": "Chengdu", "province": "Sichuan"}]
ROLES = [{"name": "admin", "description": "manages everything"}, {"name": "editor", "description": "edits content"},
         {"name": "viewer", "description": None}]
USERS = [{"name": "Alice", "age": 31, "sex": "female", "city_id": 1, "role_id": 1},
         {"name": "Bob", "age": 45, "sex": "male", "city_id": 2, "role_id": 2},
         {"name": "Chen", "age": 27, "sex": "male", "city_id": 3, "role_id": 3}]


def post(url: str, body: dict, token: str) -> int:
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"content-type": "application/json", "authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code  # 409: already seeded by an earlier run against the same database


def seed(stack: LocalStack) -> None:
    token = mint(WRITE, subject="demo-seed", ttl=300)
    for path, rows, service in (("/cities", CITIES, "city"), ("/roles", ROLES, "role"), ("/users", USERS, "user")):
        for row in rows:
            status = post(stack.url(service) + path, row, token)
            if status not in (201, 409):
                raise SystemExit(f"seeding {path} failed with HTTP {status}")


def banner(stack: LocalStack, log_dir: Path) -> str:
    u, c, r = stack.url("user"), stack.url("city"), stack.url("role")
    reader, writer = mint(READ, subject="demo-reader", ttl=86400), mint(WRITE, subject="demo-writer", ttl=86400)
    zipkin = os.environ.get("ZIPKIN_URL", "").rstrip("/")
    traces = (f"Traces: {zipkin}/zipkin/ (each response's X-Trace-Id: {zipkin}/zipkin/traces/<id>)\n" if zipkin
              else "Traces: set ZIPKIN_URL=http://127.0.0.1:9411 to send spans to a Zipkin server.\n")
    return f"""
sanicms demo is up (logs in {log_dir}/):
  user  {u}    city  {c}    role  {r}
  docs  {u}/openapi/   spec  {u}/openapi/spec.json

Access control is on (development key; tokens valid 24 h, more with
`python -m sanicms token --scope user:read ...`):
  export READ={reader}
  export WRITE={writer}
(READ: city/role/user :read; WRITE: those and :write.) In Swagger UI, Authorize takes either.

Try:
  curl -s {u}/users/1 -H "authorization: Bearer $READ"
  curl -s '{u}/users?page=1&page_size=2' -H "authorization: Bearer $READ"
  curl -s -X POST {u}/users -H "authorization: Bearer $WRITE" -H 'content-type: application/json' \\
       -d '{{"name": "Dana", "age": 22, "sex": "female", "city_id": 2, "role_id": 3}}'
  curl -s -X POST {u}/users -H "authorization: Bearer $READ" -H 'content-type: application/json' -d '{{}}'   # 403
  curl -s {u}/users/1                                                           # 401
  curl -s '{c}/cities?ids=1,2' -H "authorization: Bearer $READ"
  curl -s {r}/readyz

{traces}
Press Ctrl-C to stop.
"""


def main() -> None:
    log_dir = Path(".demo")
    with throwaway_server() as server_url:
        stack = LocalStack(server_url, log_dir=log_dir, env=AUTH_ENV)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            stack.start()
            seed(stack)
            print(banner(stack, log_dir), flush=True)
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
            print("\nstopping services...", flush=True)
            codes = stack.stop()
            print("stopped:", ", ".join(f"{k} (exit {v})" for k, v in codes.items()), flush=True)


if __name__ == "__main__":
    main()
