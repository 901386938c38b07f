"""The repository commands of ``python -m sanicms``: ``new-service``, ``services`` and ``neighbours``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..contract import neighbours
from ..registry import RegistryError, services
from . import ScaffoldError, deployfiles, new_service, report


def add_service_commands(commands: Any) -> None:
    """Add the three commands to ``python -m sanicms``'s subparsers."""
    new = commands.add_parser("new-service", help="write services/NAME (CRUD, tests, published spec) and "
                                                  "register it in the deploy files")
    new.add_argument("name", help="the service's name: lowercase letters and digits (order)")
    new.add_argument("--port", type=int, required=True, help="its port; no other service may have it")
    new.add_argument("--resource", required=True, help="the plural its routes and table are named after (orders)")
    new.add_argument("--calls", default="", help="services it refers to, comma-separated (user): a <name>_id "
                                                 "field each, checked on writes and shown in replies")
    new.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: here)")
    listing = commands.add_parser("services", help="list the services in dependency order; --check or --write "
                                                   "the deploy files generated from them")
    listing.add_argument("--check", action="store_true", help="exit 1 naming the generated files that are stale")
    listing.add_argument("--write", action="store_true", help="rewrite the stale generated files")
    listing.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: here)")
    kept = commands.add_parser("neighbours", help="check (exit 1 naming each difference) or --write each caller's "
                                                  "copies of its neighbours' published specs, "
                                                  "<package>/neighbours/<neighbour>.json")
    kept.add_argument("callers", nargs="*", metavar="SERVICE", help="the callers (default: every service)")
    kept.add_argument("--write", action="store_true", help="refresh the copies that differ")
    kept.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: here)")


def run_service_command(args: argparse.Namespace) -> int:
    """Run ``new-service``, ``services`` or ``neighbours``; the exit status (2: refused, with the
    reason on stderr)."""
    root = args.root.resolve()
    try:
        if args.command == "neighbours":
            return _neighbours(root, args.callers or None, write=args.write)
        if args.command == "new-service":
            calls = [c.strip() for c in args.calls.split(",") if c.strip()]
            created = new_service(root, args.name, port=args.port, resource=args.resource, calls=calls)
            print(report(created, root))
            return 0
        if args.write:
            for path in deployfiles.write(root):
                print(f"{'wrote' if path.exists() else 'removed'} {path.relative_to(root)}")
            return 0
        if args.check:
            outdated = deployfiles.stale(root)
            for path in outdated:
                print(f"stale: {path.relative_to(root)} (python -m sanicms services --write)", file=sys.stderr)
            return 1 if outdated else 0
        for s in services(root):
            neighbours = f"  calls {', '.join(s.downstreams)}" if s.downstreams else ""
            print(f"{s.name:<10} {s.port:<6} {s.package}{neighbours}")
        return 0
    except (ScaffoldError, RegistryError, LookupError) as exc:
        print(f"python -m sanicms {args.command}: {exc}", file=sys.stderr)
        return 2


def _neighbours(root: Path, callers: list[str] | None, *, write: bool) -> int:
    """``neighbours``: refresh the stale copies, or name them and how each differs (exit 1)."""
    if write:
        for path in neighbours.refresh(root, callers=callers):
            print(f"refreshed {path.relative_to(root)}")
        return 0
    outdated = neighbours.stale(root, callers)
    for copy in outdated:
        print(copy.problem(), file=sys.stderr)
    if not outdated:
        print(f"{len(neighbours.copies(root, callers))} copies, each what its neighbour publishes")
    return 1 if outdated else 0
