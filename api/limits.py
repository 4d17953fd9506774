"""Bounds on what one request may make the API hold: its body's size and its JSON's nesting depth.

A body over ``max_bytes`` is refused with 413 before it is read into memory: at once when Content-Length says
so, else as soon as the streamed bytes pass the limit. A body nested deeper than ``MAX_DEPTH`` is refused with
400: deep nesting reaches the recursion limits of the JSON encoders (a 500, and a stored order that every later
page holding it fails to render), and no request of the API needs more than a few levels.
"""

import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Deepest nesting of arrays and objects a request body may have.
MAX_DEPTH = 32
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
#: Objects count as arrays: only the depth matters here (a mismatched pair is the parser's to refuse).
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON in ``body`` nests arrays/objects deeper than ``limit`` (brackets in strings ignored).

    No recursion and no objects: strings are cut out and the brackets kept, then each pass strips the
    innermost pairs, so the cost is at most ``limit`` scans at C speed, of the order of parsing the body
    itself. Brackets that do not pair up are left for the JSON parser to refuse."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _STRINGS.sub(b"", body).translate(_AS_SQUARE, _NOT_BRACKETS)
    if b"[" * (limit + 1) in brackets:  # a run of openers that long is that deep (and slow to strip)
        return True
    for _ in range(limit):
        # One pass removes the innermost pairs only: replace() never rescans what it produced.
        stripped = brackets.replace(b"[]", b"")
        if not stripped or stripped == brackets:
            return False
        brackets = stripped
    return True


def error(status: int, description: str) -> tuple[Message, Message]:
    """The ``http.response.start`` and ``http.response.body`` of an error in the API's shape."""
    body = orjson.dumps({"error": {"code": "BAD_REQUEST_ERROR", "description": description}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is never read
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


class BodyLimit:
    """Reads the body itself (at most ``max_bytes``), checks it, then hands it to the app in one piece."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"Request body must be at most {self.max_bytes} bytes"
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send, 413, too_big)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if too_deep(body):
            await self._refuse(send, 400, f"Request body must not nest deeper than {MAX_DEPTH} levels")
            return
        await self.app(scope, replay(body, receive), send)

    @staticmethod
    async def _refuse(send: Send, status: int, description: str) -> None:
        start, body = error(status, description)
        await send(start)
        await send(body)


def replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` with ``body`` given first, in one message, as if it had not been read yet."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replay
