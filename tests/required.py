"""A real tool the tests drive, or a clear word about it: skipped where it is missing, saying
why and how to get it; failed where CI installed it (its ``*_TEST_REQUIRED`` flag is set), so
a skip cannot hide a break there."""

from __future__ import annotations

import os

import pytest


def require(what: str, why: str | None, flag: str, *, skipped: str = "") -> None:
    """Nothing when ``why`` is empty; else a failure under ``flag``, a skip otherwise
    (``skipped``: the skip's words, when they should say more than ``why``)."""
    if not why:
        return
    if os.environ.get(flag):
        pytest.fail(f"{what} test cannot run: {why}", pytrace=False)
    pytest.skip(skipped or f"{what} test skipped: {why}")
