"""eventually(): polls until the probe gives something, or says what never happened."""

import pytest

from sanicms.testing.processes import eventually


def test_it_returns_the_first_truthy_answer():
    answers = iter([None, [], {"spans": 2}])
    assert eventually(lambda: next(answers), "spans", step=0) == {"spans": 2}


def test_a_probe_that_never_succeeds_is_named_in_the_failure():
    with pytest.raises(AssertionError, match="two workers ready: still not so"):
        eventually(lambda: False, "two workers ready", timeout=0, step=0)
