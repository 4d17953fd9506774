"""Methods a path serves: ``OPTIONS`` answers them, and a 405 lists them all in ``Allow``.

A path is often served by several routes (GET and POST of /api/v1/orders are two), and the router's own 405
names only the methods of the first route that matched the path. Both are rare, so the methods are found by
asking the routes themselves, one method at a time, only then.
"""

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class AllowedMethods:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    def allowed(self, scope: Scope) -> list[str]:
        """Every method some route serves at this path (and OPTIONS), or none."""
        served = [
            m for m in METHODS if any(route.matches({**scope, "method": m})[0] is Match.FULL for route in self.routes)
        ]
        return [*served, "OPTIONS"] if served else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and (methods := self.allowed(scope)):
            headers = [(b"allow", ", ".join(methods).encode()), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = ", ".join(self.allowed(scope)).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow)]}
            await send(message)

        await self.app(scope, receive, send_with_allow)
