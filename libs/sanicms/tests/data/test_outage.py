"""Outages: one WARNING when the database goes away, one INFO when it serves again, with
the counts of what it cost; a database down at start-up is an outage too."""

import logging

import pytest

from sanicms.data.db import Database, DatabaseUnavailable
from sanicms.data.outage import OutageTracker

from .conftest import CuttingProxy, count, insert, no_errors_logged, serves_again


@pytest.mark.asyncio
async def test_an_outage_is_one_warning_then_one_info_with_counts(proxied, caplog):
    caplog.set_level(logging.INFO)

    async with proxied() as (db, proxy):
        await serves_again(db, "before")
        for round_ in range(2):
            proxy.refuse()
            for _ in range(4):
                with pytest.raises(DatabaseUnavailable):
                    await insert(db, f"refused {round_}")
            with pytest.raises(DatabaseUnavailable):
                await db.ping()
            assert not db.available
            await proxy.accept()
            await serves_again(db, f"back {round_}")
            assert db.available
        outages, refused = db.outages, db.refused
    assert (outages, refused) == (2, 10)
    db_lines = [r for r in caplog.records if r.name == "sanicms.data.db" and r.levelno >= logging.INFO]
    assert [(r.levelname, getattr(r, "outage", None)) for r in db_lines[:-1]] == \
        [("WARNING", "begin"), ("INFO", "end")] * 2  # nothing per refused request
    assert db_lines[0].getMessage().startswith("database unavailable (")
    assert db_lines[1].getMessage().startswith("database available again after ")
    assert db_lines[-1].getMessage() == "database pool closed"
    assert [r.refused for r in db_lines if getattr(r, "outage", None) == "end"] == [5, 5]
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_database_down_at_start_up_is_an_outage_that_ends_when_it_answers(table, caplog):
    caplog.set_level(logging.INFO, "sanicms.data.db")

    proxy = CuttingProxy(table)  # not accepting yet: nothing listens on its port
    db = Database(proxy.url, min_size=1, max_size=2, connect_timeout=2)
    await db.connect()
    try:
        assert not db.available
        with pytest.raises(DatabaseUnavailable):
            await count(db)
        await proxy.accept()
        await serves_again(db, "after")
        available = db.available
    finally:
        await db.close()
        proxy.refuse()

    assert available
    messages = [(r.levelname, r.getMessage().split(" (")[0].split(" after")[0]) for r in caplog.records]
    assert messages == [("WARNING", "database not reachable at start-up"), ("INFO", "database available again"),
                        ("INFO", "database pool closed")]
    [back] = [r for r in caplog.records if getattr(r, "outage", None) == "end"]
    assert back.refused == 1
    no_errors_logged(caplog)


# --------------------------------------------------------------------------- the tracker alone


def refused(tracker, epoch, during="connecting"):
    error = DatabaseUnavailable()
    tracker.refuse(error, epoch, ConnectionRefusedError("refused"), during)
    return error


def test_the_first_refusal_begins_an_outage_and_only_a_checkout_begun_after_it_ends_it(caplog):
    caplog.set_level(logging.DEBUG, "sanicms.data.db")
    tracker = OutageTracker()
    assert tracker.available and tracker.current is None
    before = tracker.epoch  # a checkout begun while it served
    error = refused(tracker, before)
    tracker.refuse(error, before, ConnectionRefusedError("refused"), "connecting")  # the same error again
    assert not tracker.available and (tracker.outages, tracker.refused) == (1, 1)
    tracker.served(before)  # an answer on its way before the outage: proves nothing
    assert tracker.current is not None
    tracker.served(tracker.epoch)  # a checkout begun since
    assert tracker.available and tracker.current is None
    logged = [(r.levelname, getattr(r, "outage", None)) for r in caplog.records if r.levelno >= logging.INFO]
    assert logged == [("WARNING", "begin"), ("INFO", "end")]


def test_a_failure_of_a_checkout_begun_before_the_last_outage_ended_is_no_new_outage(caplog):
    tracker = OutageTracker()
    old = tracker.epoch
    refused(tracker, old)
    tracker.served(tracker.epoch)
    refused(tracker, old)  # waited for a connection through the whole outage, say
    assert tracker.available and (tracker.outages, tracker.refused) == (1, 2)


def test_what_an_outage_cost_is_counted_in_it_and_since_the_pool_was_made(caplog):
    caplog.set_level(logging.INFO, "sanicms.data.db")
    tracker = OutageTracker()
    tracker.count_discarded()  # while it serves: counted, no outage
    refused(tracker, tracker.epoch)
    refused(tracker, tracker.epoch)
    tracker.count_discarded()
    tracker.count_commit_unknown()
    tracker.served(tracker.epoch)
    assert (tracker.refused, tracker.discarded, tracker.commits_unknown) == (2, 2, 1)
    [end] = [r for r in caplog.records if getattr(r, "outage", None) == "end"]
    assert (end.refused, end.discarded, end.commits_unknown) == (2, 1, 1)


def test_an_outage_begun_quietly_logs_only_its_end(caplog):
    caplog.set_level(logging.INFO, "sanicms.data.db")
    tracker = OutageTracker()
    tracker.begin(ConnectionRefusedError("refused"), "starting up", quiet=True)
    tracker.served(tracker.epoch)
    assert [r.levelname for r in caplog.records] == ["INFO"]
