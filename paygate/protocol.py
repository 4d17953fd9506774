"""uvicorn's httptools protocol with a bound on the request head (request line and headers): 431 past it.

uvicorn bounds the head only for h11 (``h11_max_incomplete_event_size``); with httptools a client may send
headers without end, and the parser, fed the whole of them, holds the event loop for seconds while every other
client waits. So the head is fed to the parser at most ``MAX_HEAD`` bytes in all; a request whose head has not
ended by then is answered 431 with the API's error body and its connection closed, the rest never parsed.
"""

import asyncio

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


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _head_open = True  # a new connection starts with a request head
    _head_bytes = 0

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
