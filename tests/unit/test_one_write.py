"""A response of known length leaves in one write (``paygate.protocol.OneWrite``); everything else as uvicorn
sends it. The real protocol is fed real request bytes on a transport that records each write."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from paygate.protocol import BoundedHttpToolsProtocol

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
GET = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"
BODY = b'{"ok":true}'


class Recording(asyncio.Transport):
    """A connection's transport: keeps what is written, in its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def writes(app: App, request: bytes, protocol: type[HttpToolsProtocol] = BoundedHttpToolsProtocol) -> Recording:
    """The transport after ``request`` is answered in full by ``app``."""

    async def run() -> Recording:
        config = uvicorn.Config(app, http=protocol, log_config=None, lifespan="off", server_header=False)
        config.load()
        state = ServerState()
        served = protocol(config=config, server_state=state, app_state={})
        transport = Recording()
        served.connection_made(transport)
        served.data_received(request)
        while state.tasks:
            await asyncio.gather(*state.tasks, return_exceptions=True)
        served.connection_lost(None)
        return transport

    return asyncio.run(run())


async def json_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def test_uvicorn_alone_writes_a_head_and_a_body() -> None:
    assert len(writes(json_app, GET, HttpToolsProtocol).writes) == 2  # what the lever is for


def test_a_response_of_known_length_leaves_in_one_write() -> None:
    sent = writes(json_app, GET).writes
    assert len(sent) == 1
    head, _, body = sent[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 11" in head and body == BODY


def test_two_requests_on_one_connection_get_one_write_each() -> None:
    sent = writes(json_app, GET + GET).writes
    assert len(sent) == 2 and all(w.endswith(b"\r\n\r\n" + BODY) for w in sent)


def test_an_empty_body_of_length_zero_still_goes_out() -> None:
    async def empty(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    sent = writes(empty, GET).writes
    assert len(sent) == 1 and sent[0].startswith(b"HTTP/1.1 200 OK\r\n") and sent[0].endswith(b"\r\n\r\n")


def test_a_head_request_gets_its_head_at_once() -> None:
    sent = writes(json_app, b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n").writes
    assert len(sent) == 1 and sent[0].startswith(b"HTTP/1.1 200 OK\r\n") and sent[0].endswith(b"\r\n\r\n")


def test_a_streamed_response_sends_its_head_before_its_first_chunk() -> None:
    async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    sent = writes(stream, GET).writes
    assert sent[0].startswith(b"HTTP/1.1 200 OK\r\n") and sent[0].endswith(b"\r\n\r\n")  # not held for the body
    assert b"transfer-encoding: chunked" in sent[0] and b"data: 1" in sent[1]


def test_100_continue_goes_at_once_and_the_answer_after_it_in_one_write() -> None:
    async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = (await receive())["body"]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    request = b"POST /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"
    sent = writes(echo, request).writes
    assert sent[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(sent) == 2 and sent[1].startswith(b"HTTP/1.1 200 OK\r\n") and sent[1].endswith(b"\r\n\r\nhi")


@pytest.mark.parametrize("fails", ["raises", "returns"])
def test_an_app_that_stops_after_its_head_gets_the_head_sent_then_the_connection_closed(fails: str) -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        if fails == "raises":
            raise RuntimeError("after the head")

    transport = writes(broken, GET)
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.closed
