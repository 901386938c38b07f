"""Observers as lists, called as one: nothing, the observer itself, or each in order."""

import contextlib

import pytest

from sanicms.observers import around, each


def recording(seen, name):
    @contextlib.contextmanager
    def observe(*args):
        seen.append((name, "open", args))
        try:
            yield name
        except Exception as exc:
            seen.append((name, "failed", type(exc).__name__))
            raise
        seen.append((name, "closed"))
    return observe


def test_no_observer_is_nothing_to_call_and_one_is_itself():
    def alone(*args):
        return None

    assert around([]) is None and each([]) is None
    assert around([alone]) is alone and each([alone]) is alone  # no layer on the request path


def test_several_open_in_the_order_given_and_close_in_reverse():
    seen = []
    both = around([recording(seen, "outer"), recording(seen, "inner")])
    with both("req", "SELECT 1"):
        seen.append("statement")
    assert seen == [("outer", "open", ("req", "SELECT 1")), ("inner", "open", ("req", "SELECT 1")), "statement",
                    ("inner", "closed"), ("outer", "closed")]


def test_a_failure_inside_reaches_every_observer_and_goes_on():
    seen = []
    both = around([recording(seen, "outer"), recording(seen, "inner")])
    with pytest.raises(ZeroDivisionError), both("req", "SELECT 1/0"):
        raise ZeroDivisionError
    assert seen[2:] == [("inner", "failed", "ZeroDivisionError"), ("outer", "failed", "ZeroDivisionError")]


def test_an_observer_that_declines_is_left_out():
    seen = []
    some = around([lambda *args: None, recording(seen, "kept")])
    with some("req") as entered:
        pass
    assert entered == "kept" and seen == [("kept", "open", ("req",)), ("kept", "closed")]
    assert around([lambda *args: None, lambda *args: None])("req") is None


def test_one_that_fails_to_open_closes_those_opened_before_it():
    seen = []

    def broken(*args):
        raise RuntimeError("cannot open")
        yield

    some = around([recording(seen, "first"), contextlib.contextmanager(broken)])
    with pytest.raises(RuntimeError), some("req"):
        seen.append("never")
    assert seen == [("first", "open", ("req",)), ("first", "failed", "RuntimeError")]


def test_listeners_are_each_told_in_order():
    told = []
    both = each([lambda *args: told.append(("a", args)), lambda *args: told.append(("b", args))])
    both("SELECT 1", 0.5, None)
    assert told == [("a", ("SELECT 1", 0.5, None)), ("b", ("SELECT 1", 0.5, None))]


def test_an_inner_observer_that_swallows_a_failure_hides_it_from_the_outer_one():
    seen = []

    @contextlib.contextmanager
    def swallowing(*args):
        try:
            yield
        except ZeroDivisionError:
            seen.append(("swallowing", "swallowed"))

    some = around([recording(seen, "outer"), swallowing])
    with some("req"):
        raise ZeroDivisionError  # no pytest.raises: it must not get out
    assert seen == [("outer", "open", ("req",)), ("swallowing", "swallowed"), ("outer", "closed")]


def test_three_nest_like_three_with_statements():
    seen = []
    three = around([recording(seen, "a"), recording(seen, "b"), recording(seen, "c")])
    with pytest.raises(KeyError), three("req"):
        raise KeyError("x")
    assert [s[0] for s in seen] == ["a", "b", "c", "c", "b", "a"]
    assert all(s[1] == "failed" for s in seen[3:])
