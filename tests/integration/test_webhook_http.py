"""The webhook HTTP client against real sockets: status and bounded excerpt, kept-alive reuse, chunked and
close-delimited answers, a connection the server dropped while idle, garbage, redirects not followed."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from workers import http

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head, await reader.readexactly(length)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Any]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


def client(excerpt: int = 100) -> http.Client:
    return http.Client(keep=4, excerpt_bytes=excerpt, user_agent="test/1")


async def test_a_post_gets_the_status_and_the_answer_and_the_connection_is_kept(serve: Any) -> None:
    seen: list[bytes] = []
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while not reader.at_eof():
            try:
                head, body = await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            seen.append(head + body)
            writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")

    base = await serve(handler)
    c = client()
    assert await c.post(f"{base}/hook/é?a=1", b'{"x":"\xc3\xa9"}', {"X-Webhook-Signature": "ab"}) == (201, b"ok")
    assert await c.post(f"{base}/hook/é?a=1", b"{}", {}) == (201, b"ok")
    assert connections == 1
    head = seen[0].decode("latin-1")
    assert head.startswith("POST /hook/%C3%A9?a=1 HTTP/1.1\r\n")
    assert f"Host: {base.removeprefix('http://')}\r\n" in head and "X-Webhook-Signature: ab\r\n" in head
    assert "Content-Length: 10\r\n" in head and seen[0].endswith(b'{"x":"\xc3\xa9"}')
    await c.close()


async def test_chunked_and_close_delimited_answers_are_read(serve: Any) -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfail\r\n3\r\ned!\r\n0\r\n\r\n")

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nall of it")
        writer.close()

    assert await client().post(await serve(chunked), b"{}", {}) == (500, b"failed!")
    assert await client().post(await serve(until_close), b"{}", {}) == (200, b"all of it")


async def test_a_long_answer_is_cut_to_the_excerpt_without_reading_it_all(serve: Any) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
        for _ in range(100):
            writer.write(b"x" * 10_000)
            await writer.drain()

    status, excerpt = await asyncio.wait_for(client(excerpt=50).post(await serve(endless), b"{}", {}), 5)
    assert (status, excerpt) == (200, b"x" * 50)


async def test_a_redirect_is_an_answer_not_followed(serve: Any) -> None:
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\r\nContent-Length: 0\r\n\r\n")

    assert await client().post(await serve(redirect), b"{}", {}) == (302, b"")


async def test_a_connection_dropped_while_idle_is_replaced_once(serve: Any) -> None:
    async def one_answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()  # keep-alive timeout on the server's side

    base = await serve(one_answer_then_close)
    c = client()
    assert await c.post(base, b"{}", {}) == (200, b"")
    await asyncio.sleep(0.2)
    assert await c.post(base, b"{}", {}) == (200, b"")


async def test_no_answer_is_an_error_and_so_is_a_refused_connection(serve: Any) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    with pytest.raises(http.HTTPError):
        await client().post(await serve(garbage), b"{}", {})
    with pytest.raises(http.HTTPError):
        await client().post(await serve(hang_up), b"{}", {})
    with pytest.raises(OSError):
        await client().post("http://127.0.0.1:9/", b"{}", {})
