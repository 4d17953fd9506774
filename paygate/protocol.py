"""uvicorn's httptools protocol with a bound on the request head (request line and headers): 431 past it, and
with each response of a known length written at once.

uvicorn bounds the head only for h11 (``h11_max_incomplete_event_size``); with httptools a client may send
headers without end, and the parser, fed the whole of them, holds the event loop for seconds while every other
client waits. So the head is fed to the parser at most ``MAX_HEAD`` bytes in all; a request whose head has not
ended by then is answered 431 with the API's error body and its connection closed, the rest never parsed.

uvicorn writes a response's head and its body in two writes: two system calls, two TCP segments, and often two
wake-ups of the client. A response with a ``content-length`` (every JSON answer) keeps its head back until its
body comes and leaves in one write (``OneWrite``); a streamed one (server-sent events) still sends its head at
once.
"""

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

#: Request line plus headers, in bytes (Razorpay and most proxies allow 8–16 KB).
MAX_HEAD = 16 * 1024
_BODY = orjson.dumps(
    {
        "error": {
            "code": "BAD_REQUEST_ERROR",
            "description": f"Request headers must be at most {MAX_HEAD} bytes in total",
        }
    }
)
RESPONSE_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_BODY)
    + _BODY
)


class OneWrite:
    """A response's transport that keeps the head of a response of known length back until the body's first
    write, and writes the two together. Anything else (a ``100 Continue``, a chunked or bodiless response's
    head, a close) goes on as it came, the kept head first."""

    __slots__ = ("_cycle", "_head", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle: RequestResponseCycle | None = cycle  # until its head is written: see write
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif (cycle := self._cycle) is not None and cycle.response_started:
            # The cycle writes the head first, once it has started the response. Let go of the cycle now: it
            # holds this transport, and a reference cycle would leave both to the garbage collector.
            self._cycle = None
            if cycle.chunked_encoding is False and cycle.scope["method"] != "HEAD":
                self._head = data  # a length is known: a body write follows, even of b"" for an empty body
                return
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)  # as uvicorn would have sent it before closing
            self._head = None
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)  # is_closing, get_extra_info, ...


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _head_open = True  # a new connection starts with a request head
    _head_bytes = 0

    def on_headers_complete(self) -> None:
        self._head_open = False
        super().on_headers_complete()
        cycle = self.cycle  # made just now (unless the request upgrades), its task not yet run
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = OneWrite(self.transport, cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open, self._head_bytes = True, 0

    def data_received(self, data: bytes) -> None:
        while data and self._head_open:
            room = MAX_HEAD - self._head_bytes
            if room <= 0:
                self._refuse()
                return
            chunk, data = data[:room], data[room:]
            self._head_bytes += len(chunk)
            super().data_received(chunk)
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def _refuse(self) -> None:
        self.logger.warning("Request head over %d bytes: answered 431.", MAX_HEAD)
        transport: asyncio.Transport = self.transport
        if not transport.is_closing():
            transport.write(RESPONSE_431)
            transport.close()
