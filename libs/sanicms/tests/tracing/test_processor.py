"""The batch processor: bounded, batched, never in the request's way."""

import asyncio
import logging

import pytest

from sanicms.tracing import SpanReporter


class Memory:
    name = "memory"

    def __init__(self, fail=False):
        self.batches = []
        self.fail = fail

    async def open(self):
        pass

    async def send(self, spans):
        if self.fail:
            raise RuntimeError("collector says no")
        self.batches.append(spans)

    async def close(self):
        pass


def test_a_full_queue_drops_and_counts_instead_of_growing(spans):
    memory = Memory()
    reporter = SpanReporter([memory], queue_size=100)
    spans(reporter, 250)  # no task is draining: nothing leaves the queue
    assert reporter.stats() == {"queued": 100, "reported": 100, "sent": 0, "dropped": 150, "lost": 0}


def test_without_transports_nothing_is_queued(spans):
    reporter = SpanReporter([])
    spans(reporter, 10)
    assert reporter.stats()["queued"] == 0


@pytest.mark.asyncio
async def test_spans_are_sent_in_batches_by_the_background_task(spans):
    memory = Memory()
    reporter = SpanReporter([memory], batch_size=50, flush_interval=60)
    await reporter.start()
    spans(reporter, 120)
    for _ in range(500):  # a full batch wakes the task: no waiting for the minute-long interval
        if sum(len(b) for b in memory.batches) >= 100:
            break
        await asyncio.sleep(0.01)
    sent_early = sum(len(b) for b in memory.batches)
    await reporter.close()
    assert sent_early >= 100
    assert [len(b) for b in memory.batches] == [50, 50, 20]
    assert reporter.stats()["sent"] == 120 and reporter.stats()["queued"] == 0


@pytest.mark.asyncio
async def test_close_flushes_what_is_left(spans):
    memory = Memory()
    reporter = SpanReporter([memory], flush_interval=60)
    await reporter.start()
    spans(reporter, 7)
    await reporter.close(timeout=2)
    assert sum(len(b) for b in memory.batches) == 7


@pytest.mark.asyncio
async def test_a_failing_transport_loses_the_batch_counts_it_and_keeps_running(spans, caplog):
    reporter = SpanReporter([Memory(fail=True)], flush_interval=0.01)
    await reporter.start()
    spans(reporter, 5)
    await asyncio.sleep(0.05)
    spans(reporter, 5)
    await reporter.close()
    assert reporter.stats()["lost"] == 10
    assert "collector says no" in caplog.text


@pytest.mark.asyncio
async def test_drops_are_logged_now_and_then(spans, caplog):
    reporter = SpanReporter([Memory()], queue_size=5, flush_interval=60, drop_log_interval=0)
    spans(reporter, 8)
    await reporter.close()
    assert "dropped 3 spans" in caplog.text


@pytest.mark.asyncio
async def test_drops_are_logged_every_interval_while_running_not_once_per_span(spans, caplog):
    class Slow(Memory):
        async def send(self, batch):
            await asyncio.sleep(0.05)  # a slow collector: the queue overflows meanwhile
            await super().send(batch)

    with caplog.at_level(logging.WARNING, logger="sanicms.tracing"):
        reporter = SpanReporter([Slow()], queue_size=5, batch_size=5, flush_interval=0.01, drop_log_interval=0.1)
        await reporter.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(50):  # half a second (more on a busy machine) of 20 spans every 10 ms
            spans(reporter, 20)
            await asyncio.sleep(0.01)
        running = [r for r in caplog.records if "span queue full" in r.getMessage()]
        intervals = (loop.time() - started) / 0.1
        await reporter.close()
    assert reporter.stats()["dropped"] > 500
    # At most one warning per interval however long the run took, however many spans dropped.
    assert 2 <= len(running) <= intervals + 1
    assert all(r.levelname == "WARNING" for r in running)
