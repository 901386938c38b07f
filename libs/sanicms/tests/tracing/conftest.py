"""Fixtures of the tracing tests."""

import pytest

from sanicms.tracing import Tracer


@pytest.fixture
def spans():
    """``spans(reporter, n)``: ``n`` spans started and finished by a tracer reporting to ``reporter``."""
    def finish(reporter, n):
        tracer = Tracer("probe", reporter)
        for i in range(n):
            tracer.start_span(f"span {i}").finish()

    return finish
