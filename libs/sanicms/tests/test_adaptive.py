"""The adaptive concurrency limit: it shrinks while the answered requests queue, grows back while
they do not, and never passes its ceiling."""

import pytest

from sanicms.adaptive import AdaptiveLimit


def windows(limit, latency, count=1):
    """Feed ``count`` whole windows of ``latency``; the limits :meth:`sample` returned."""
    moves = []
    for _ in range(count):
        for _ in range(limit.window):
            moved = limit.sample(latency)
            if moved is not None:
                moves.append(moved)
    return moves


def test_it_starts_at_the_ceiling_and_stays_there_while_nothing_queues():
    limit = AdaptiveLimit(100, window=10)
    assert limit.limit == 100
    assert windows(limit, 0.001, count=5) == []  # at the ceiling already: no move to report
    assert limit.limit == 100


def test_a_window_reports_a_move_once_it_is_whole():
    limit = AdaptiveLimit(100, window=10)
    windows(limit, 0.001)  # the fastest request: 1 ms
    assert [limit.sample(0.05) for _ in range(9)] == [None] * 9
    assert limit.sample(0.05) == 90  # 100 × (1 − 1/50) queueing: a tenth off


def test_queueing_shrinks_it_until_about_beta_requests_queue_and_a_quiet_spell_grows_it_back_to_the_ceiling():
    limit = AdaptiveLimit(100, window=10)
    windows(limit, 0.001)
    moves = windows(limit, 0.05, count=60)  # 98 % of each request's time spent queueing
    assert moves == sorted(moves, reverse=True) and moves[0] == 90
    # it stops where limit × 0.98 falls under BETA × log10(limit): 13 × 0.98 < 12 × 1.11
    assert limit.limit == moves[-1] == 13
    grown = windows(limit, 0.0011, count=200)
    assert grown == sorted(grown) and grown[-1] == 100 and limit.limit == 100


def test_it_settles_where_the_queue_is_between_alpha_and_beta():
    """Latency that grows with the limit, as on a worker whose CPU is full: ``limit`` in flight
    at 1,000 answers/s take ``limit`` ms each, against 1 ms for one alone."""
    limit = AdaptiveLimit(100, window=10)
    windows(limit, 0.001)
    for _ in range(300):
        windows(limit, limit.limit / 1000)
    # queueing = limit × (1 − 1/limit) = limit − 1, held between 6 and 12 times log10(limit)
    assert 7 <= limit.limit <= 15


def test_the_base_is_the_fastest_request_of_the_last_two_periods():
    limit = AdaptiveLimit(100, window=10, period=0.0)  # every window ends a period
    windows(limit, 0.001)
    assert limit.base == pytest.approx(0.001)  # the period before the one begun
    windows(limit, 0.004)
    assert limit.base == pytest.approx(0.004)  # the 1 ms request is two periods old: forgotten


def test_a_ceiling_below_beta_is_never_moved():
    limit = AdaptiveLimit(10, window=10)
    windows(limit, 0.001)
    assert windows(limit, 1.0, count=10) == [] and limit.limit == 10
