"""RawPeer: a scripted raw HTTP peer, in the test's event loop or in a thread of its own."""

import asyncio

import httpx
import pytest

from sanicms.testing.peer import RawPeer, content_length, reset


async def echo_length(peer, head, length, reader, writer):
    body = await reader.readexactly(length)
    answer = b"%d %s" % (length, head.split(b" ")[1])
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(answer), answer))
    await writer.drain()
    return body != b"last"


@pytest.mark.asyncio
async def test_the_handler_answers_each_request_and_keeps_the_connection_when_it_says_so():
    async with RawPeer(echo_length) as peer, httpx.AsyncClient(base_url=peer.url) as client:
        first = await client.post("/a", content=b"12345")
        second = await client.get("/b")
        last = await client.post("/c", content=b"last")
    assert [first.text, second.text, last.text] == ["5 /a", "0 /b", "4 /c"]
    assert (peer.requests, peer.connections) == (3, 1)  # one kept-alive connection


@pytest.mark.asyncio
async def test_a_reset_is_a_connection_reset_for_the_client():
    async def refuse(peer, head, length, reader, writer):
        reset(writer)
        return False

    async with RawPeer(refuse) as peer:
        reader, writer = await asyncio.open_connection(peer.host, peer.port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        with pytest.raises(ConnectionResetError):
            await reader.read()
        writer.close()
    assert peer.requests == 1


def test_started_in_a_thread_it_serves_callers_outside_any_event_loop():
    class Counting(RawPeer):
        async def handle(self, head, length, reader, writer):
            return await echo_length(self, head, length, reader, writer)

    peer = Counting().start()
    try:
        assert httpx.get(peer.url + "/x", timeout=5).text == "0 /x"
    finally:
        peer.stop()
    assert peer.requests == 1


def test_content_length_is_read_from_the_head():
    assert content_length(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n") == 12
    assert content_length(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 0
