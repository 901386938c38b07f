"""A bare Sanic app served over a real socket, for the tests of the fence around Sanic and sanic-ext."""

import asyncio

import pytest
from sanic import Sanic

from sanicms.testing.processes import free_port


def _serve(app, exchange, **server_args):
    """Run ``app`` on a free loopback port and ``await exchange(port)`` against it."""
    async def main():
        port = free_port()
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True,
                                         access_log=False, **server_args)
        await server.startup()
        await server.before_start()
        await server.after_start()
        try:
            return await exchange(port)
        finally:
            await server.before_stop()
            await server.close()
            for connection in list(server.connections):
                connection.close_if_idle()
            await server.after_stop()

    Sanic.test_mode = True
    try:
        return asyncio.run(main())
    finally:
        Sanic.unregister_app(app)


async def _raw(port, data):
    """``data`` on a new connection; all the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()


@pytest.fixture
def serve():
    """``serve(app, exchange, **server_args)``: ``app`` served while ``await exchange(port)`` runs."""
    return _serve


@pytest.fixture
def raw():
    """``await raw(port, data)``: what the server sends back until it closes the connection."""
    return _raw
