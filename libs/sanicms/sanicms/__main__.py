"""``python -m sanicms token | settings | spec | new-service | services | neighbours | tests``: development tools."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from .auth import DEVELOPMENT_SECRET, mint
from .config import reference
from .scaffold.cli import add_service_commands, run_service_command


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sanicms", description="sanicms development tools")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("settings", help="print every setting, its default and meaning (Markdown)")
    spec = commands.add_parser("spec", help="print the OpenAPI spec a service serves (--write: publish it "
                                            "as <package>/openapi.json, the file its tests check, and refresh "
                                            "its callers' copies of it, <package>/neighbours/<service>.json)")
    spec.add_argument("services", nargs="+", metavar="SERVICE", help="service name(s), e.g. city")
    spec.add_argument("--write", action="store_true", help="write <package>/openapi.json (and the callers' "
                                                           "copies, in a repository) instead of printing")
    add_service_commands(commands)
    tests = commands.add_parser("tests", help="run the service's unittest suite (its tests/), from the service's "
                                              "folder: `coverage run --source . -m sanicms tests` measures it")
    tests.add_argument("unittest_args", nargs=argparse.REMAINDER, help="passed to unittest discover (-v, -k ...)")
    token = commands.add_parser("token", help="mint an HS256 bearer token for development")
    token.add_argument("--scope", action="append", default=[], help="a scope to grant (repeat for more)")
    token.add_argument("--ttl", type=float, default=3600, help="seconds until it expires (default 3600)")
    token.add_argument("--sub", default="developer", help="the subject (default developer)")
    token.add_argument("--iss", help="issuer claim, when the services check AUTH_ISSUER")
    token.add_argument("--aud", help="audience claim, when the services check AUTH_AUDIENCE")
    args = parser.parse_args(argv)
    if args.command == "settings":
        print(reference())
        return
    if args.command == "spec":
        from .testing.contracts import refresh_callers_copies, write_published_spec  # development tools: [testing]

        for service in args.services:
            try:
                text = write_published_spec(service, write=args.write)
            except ModuleNotFoundError as exc:
                if not (exc.name or "").startswith(f"{service}_service"):
                    raise
                raise SystemExit(f"{service}: its package {service}_service is not installed here; "
                                 "`make install` installs every service in services/, then run this again") from None
            print(f"{service}: published spec written" if args.write else text, end="\n" if args.write else "")
            if args.write:
                for copy in refresh_callers_copies(service):  # the copies its callers keep, in a repository
                    shown = copy.relative_to(Path.cwd()) if copy.is_relative_to(Path.cwd()) else copy
                    print(f"{service}: refreshed {shown}")
        return
    if args.command == "tests":
        from .testing.runner import run_tests  # needs [testing]

        raise SystemExit(run_tests(args.unittest_args))
    if args.command in ("new-service", "services", "neighbours"):
        raise SystemExit(run_service_command(args))
    claims = {k: v for k, v in (("iss", args.iss), ("aud", args.aud)) if v}
    secret = os.environ.get("AUTH_SECRET") or DEVELOPMENT_SECRET
    print(mint(args.scope, subject=args.sub, ttl=args.ttl, secret=secret, **claims))


if __name__ == "__main__":
    main()
