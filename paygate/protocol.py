"""uvicorn's httptools protocol with a bound on the request head (request line and headers): 431 past it, and
a response's head and body sent together.

uvicorn bounds the head only for h11 (``h11_max_incomplete_event_size``); with httptools a client may send
headers without end, and the parser, fed the whole of them, holds the event loop for seconds while every other
client waits. So the head is fed to the parser at most ``MAX_HEAD`` bytes in all; a request whose head has not
ended by then is answered 431 with the API's error body and its connection closed, the rest never parsed.

uvicorn writes a response's head and its body apart, and each write is a send of its own: two system calls and
two packets for the client to wake up for. ``Coalescing`` joins the writes of one event-loop turn into one.
"""

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class Coalescing:
    """A transport whose writes of one event-loop turn go out as one write, at the end of the turn (or before a
    close); everything else is the wrapped transport's own."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._parts:
            asyncio.get_running_loop().call_soon(self._flush)
        self._parts.append(bytes(data))

    def _flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts and not self._transport.is_closing():
            self._transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._parts = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _head_open = True  # a new connection starts with a request head
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(Coalescing(transport))  # type: ignore[arg-type]

    def on_headers_complete(self) -> None:
        self._head_open = False
        super().on_headers_complete()

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
