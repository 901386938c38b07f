"""``python -m sanicms tests``: a service's unittest suite, run from the service's folder.

The original design measures coverage this way (``coverage run --source . -m sanicms tests``);
it is ``python -m unittest discover -s tests`` that also fails when it finds no test at all.
"""

from __future__ import annotations

import sys
import unittest
from collections.abc import Sequence
from pathlib import Path


def run_tests(argv: Sequence[str] = (), start: str = "tests") -> int:
    """Exit status: 0 when every test passed and there was at least one (as pytest's 5 says,
    a run that found nothing proves nothing)."""
    if not Path(start).is_dir():
        print(f"python -m sanicms tests: no {start}/ here; run it in a service's folder "
              f"(services/<name>), where its tests live", file=sys.stderr)
        return 2
    program = unittest.main(module=None, exit=False,
                            argv=["python -m sanicms tests", "discover", "-s", start, *argv])
    result = program.result
    if result.testsRun == 0:
        print(f"python -m sanicms tests: no tests found under {start}/", file=sys.stderr)
        return 5
    return 0 if result.wasSuccessful() else 1
