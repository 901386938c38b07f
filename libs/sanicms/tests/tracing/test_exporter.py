"""The transports: POSTs to a collector on loopback (a well one, a slow or refusing one, one
that dies mid-request), and a span per log line; what the batch processor counts when they fail."""

import asyncio
import base64
import json
import logging

import pytest
from aiohttp import web

from sanicms.testing.peer import RawPeer, reset
from sanicms.testing.processes import free_port
from sanicms.tracing import HttpTransport, LogTransport, SpanReporter
from sanicms.tracing.exporter import TransportError


class Collector:
    """A fake Zipkin on loopback: records POSTed batches; ``delay`` or ``status`` fault it."""

    def __init__(self, delay=0.0, status=202):
        self.delay, self.status, self.batches, self.calls = delay, status, [], 0
        self.port = free_port()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self):
        async def accept(request):
            self.calls += 1
            await asyncio.sleep(self.delay)
            self.batches.append(await request.json())
            return web.Response(status=self.status)

        app = web.Application()
        app.router.add_post("/api/v2/spans", accept)
        self.runner = web.AppRunner(app, handler_cancellation=True)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


@pytest.mark.asyncio
async def test_http_transport_posts_zipkin_json_to_the_collector(spans):
    async with Collector() as collector:
        reporter = SpanReporter([HttpTransport(collector.url)], flush_interval=0.01)
        await reporter.start()
        spans(reporter, 3)
        await reporter.close()
    [batch] = collector.batches
    assert [s["name"] for s in batch] == ["span 0", "span 1", "span 2"]
    assert all(s["localEndpoint"]["serviceName"] == "probe" for s in batch)


@pytest.mark.asyncio
async def test_http_transport_gives_up_after_its_timeout_and_bounded_retries():
    async with Collector(delay=5) as collector:
        transport = HttpTransport(collector.url, timeout=0.2, retries=1, backoff=0.01)
        await transport.open()
        with pytest.raises(TransportError, match="TimeoutError"):
            await transport.send([json.dumps({"traceId": "a" * 32, "id": "b" * 16}).encode()])
        await transport.close()
    assert collector.calls == 2  # one attempt and one retry, each cut off by the timeout
    assert collector.batches == []  # none of them waited for the slow answer


@pytest.mark.asyncio
async def test_http_transport_does_not_retry_a_refused_batch():
    async with Collector(status=400) as collector:
        transport = HttpTransport(collector.url, retries=3)
        await transport.open()
        with pytest.raises(Exception, match="HTTP 400"):
            await transport.send([])
        await transport.close()
    assert collector.calls == 1


@pytest.mark.asyncio
async def test_http_transport_to_a_closed_port_is_a_transport_error():
    transport = HttpTransport(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01)
    await transport.open()
    with pytest.raises(TransportError, match="Error"):
        await transport.send([])
    await transport.close()


@pytest.mark.asyncio
async def test_log_transport_writes_one_json_span_per_line(spans, caplog):
    with caplog.at_level(logging.INFO, logger="sanicms.spans"):
        reporter = SpanReporter([LogTransport()])
        spans(reporter, 2)
        await reporter.close()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sanicms.spans"]
    assert [s["name"] for s in lines] == ["span 0", "span 1"]


# --------------------------------------------------------------------------- the collector dies
# A raw HTTP collector on loopback (sanicms.testing.peer) that dies mid-request the way a
# killed process does: it resets the connection (RST) while the batch is being sent, or
# once it has read it all, or sends half an answer. The reporter must count every span as
# sent or lost, log one WARNING when sending starts failing and one INFO when it works
# again, and never raise.


class DyingCollector(RawPeer):
    """``mode`` says how each POST ends; ``spans`` counts the spans it accepted."""

    def __init__(self, mode):
        super().__init__()
        self.mode, self.spans = mode, 0

    @property
    def calls(self):
        """The POSTs that reached it."""
        return self.requests

    async def handle(self, head, length, reader, writer):
        if self.mode == "reset while the batch is sent":
            await reader.readexactly(length // 2)
            reset(writer)
            return False
        body = await reader.readexactly(length)
        if self.mode in ("ok", "ok, then closes"):
            self.spans += len(json.loads(body))
            writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            if self.mode == "ok, then closes":  # as a collector's idle timeout would
                writer.close()
                return False
            return True
        if self.mode == "reset once read":
            reset(writer)
        elif self.mode == "half an answer":
            writer.write(b"HTTP/1.1 20")
            await writer.drain()
            await asyncio.sleep(0.01)
            reset(writer)
        elif self.mode == "never answers":
            await asyncio.sleep(60)
        return False


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["reset while the batch is sent", "reset once read", "half an answer"])
async def test_a_collector_dying_mid_request_loses_counted_spans_and_recovers(spans, mode, caplog):
    caplog.set_level(logging.DEBUG, "sanicms.tracing")

    async with DyingCollector(mode) as collector:
        transport = HttpTransport(collector.url, timeout=2, retries=1, backoff=0.001)
        reporter = SpanReporter([transport], batch_size=100, flush_interval=60)
        await reporter.start()
        for _ in range(3):  # three batches, each lost after an attempt and a retry
            spans(reporter, 100)
            await reporter.flush()
        failing = reporter.stats()
        calls = collector.calls
        collector.mode = "ok"
        spans(reporter, 50)
        await reporter.flush()
        await reporter.close()
        after, delivered = reporter.stats(), collector.spans
    assert failing == {"queued": 0, "reported": 300, "sent": 0, "dropped": 0, "lost": 300}
    assert calls == 6  # an attempt and one retry per batch, no more
    assert after == {"queued": 0, "reported": 350, "sent": 50, "dropped": 0, "lost": 300}
    assert delivered == 50
    warnings_ = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings_) == 1 and "could not send 100 spans via http" in warnings_[0].getMessage()
    [back] = [r for r in caplog.records if getattr(r, "failing", None) == "end"]
    assert back.levelno == logging.INFO and back.lost == 300
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.asyncio
async def test_a_connection_the_collector_closed_while_idle_is_not_reused():
    async with DyingCollector("ok, then closes") as collector:
        transport = HttpTransport(collector.url, retries=0)  # no retry would hide a failed attempt
        await transport.open()
        for _ in range(3):
            await transport.send([json.dumps({"traceId": "a" * 32, "id": "b" * 16}).encode()])
            await asyncio.sleep(0.05)  # the collector's close arrives before the next batch
        await transport.close()
    assert collector.calls == 3 and collector.spans == 3 and collector.connections == 3


@pytest.mark.asyncio
async def test_the_connection_is_kept_alive_between_batches():
    async with DyingCollector("ok") as collector:
        transport = HttpTransport(collector.url, retries=0)
        await transport.open()
        for _ in range(3):
            await transport.send([json.dumps({"traceId": "a" * 32, "id": "b" * 16}).encode()])
        await transport.close()
    assert collector.calls == 3 and collector.connections == 1


@pytest.mark.asyncio
async def test_credentials_in_the_collector_url_become_basic_auth_not_part_of_the_host():
    heads = []

    async def serve(peer, head, length, reader, writer):
        heads.append(head.decode())
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
        return False

    async with RawPeer(serve) as peer:
        port = peer.port
        transport = HttpTransport(f"http://span%20writer:s3cret@127.0.0.1:{port}/zipkin", retries=0)
        await transport.open()
        await transport.send([])
        await transport.close()
    [head] = heads
    assert head.startswith("POST /zipkin/api/v2/spans HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{port}\r\n" in head
    assert "\r\nAuthorization: Basic " + base64.b64encode(b"span writer:s3cret").decode() + "\r\n" in head


@pytest.mark.asyncio
async def test_a_flush_cut_short_on_close_counts_the_batch_in_flight_as_lost(spans):
    async with DyingCollector("never answers") as collector:
        reporter = SpanReporter([HttpTransport(collector.url, timeout=30, retries=0)], flush_interval=0.01)
        await reporter.start()
        spans(reporter, 10)
        while not collector.calls:  # the batch is on its way
            await asyncio.sleep(0.01)
        spans(reporter, 5)  # and more wait in the queue
        await reporter.close(timeout=0.1)
        stats = reporter.stats()
    assert stats == {"queued": 0, "reported": 15, "sent": 0, "dropped": 0, "lost": 15}
