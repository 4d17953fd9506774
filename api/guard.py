"""Requests no route could answer: a NUL byte in the path or query string is refused before routing.

PostgreSQL text cannot hold NUL, so such an id or filter would fail in the driver as a 500; it is a malformed
request, and SPEC.md wants a 400 for those.
"""

from urllib.parse import unquote_to_bytes

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = orjson.dumps(
    {"error": {"code": "BAD_REQUEST_ERROR", "description": "Request path and query must not contain NUL characters"}}
)


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b""))
        ):
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": _BODY})
            return
        await self.app(scope, receive, send)
