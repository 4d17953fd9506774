"""``paygate dashboard``: the merchant dashboard's build on DASHBOARD_PORT, with ``/api`` passed to the API.

One origin for the page and its API calls, so the session cookie stays SameSite=Strict and no CORS is
needed. The API sees the browser's address in ``X-Forwarded-For`` (uvicorn trusts it from 127.0.0.1 only,
its FORWARDED_ALLOW_IPS default), so sign-in limits per address hold behind this proxy too.
"""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Every answer's security headers. Styles may be inline: the chart library sets style attributes.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "cross-origin-opener-policy": "same-origin",
}
#: Request headers not passed on (hop-by-hop, or set by the proxy itself).
_DROP_REQUEST = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "x-forwarded-for",
        "te",
        "trailer",
        "proxy-authorization",
    }
)
#: Answer headers not passed back. WWW-Authenticate would make a browser pop up its Basic sign-in box on a 401.
_DROP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "www-authenticate",
        "server",
        "date",
    }
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def create_app(dist: Path, api_url: str) -> Starlette:
    """The dashboard server: files of ``dist``, every other path its ``index.html``, ``/api/*`` proxied."""
    dist = dist.resolve()
    base = api_url.rstrip("/")
    # The transport, not a client: a client keeps a cookie jar, and would hand one browser's session cookie to
    # every other browser behind this proxy.
    transport = httpx.AsyncHTTPTransport(retries=0)
    timeout = httpx.Timeout(30).as_dict()

    async def proxy(request: Request) -> Response:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST]
        if request.client:
            headers.append(("x-forwarded-for", request.client.host))
        outgoing = httpx.Request(
            request.method,
            base + request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            headers=headers,
            content=await request.body(),
            extensions={"timeout": timeout},
        )
        try:
            answer = await transport.handle_async_request(outgoing)
            content = await answer.aread()
        except httpx.HTTPError:
            body = {"error": {"code": "SERVICE_UNAVAILABLE", "description": "The API is not reachable"}}
            return JSONResponse(body, status_code=503, headers={"retry-after": "2"})
        out = Response(content, status_code=answer.status_code)
        for key, value in answer.headers.multi_items():
            if key.lower() not in _DROP_RESPONSE:
                out.headers.append(key, value)
        out.headers["cache-control"] = "no-store"
        return out

    async def page(request: Request) -> Response:
        wanted = (dist / request.path_params["path"]).resolve()
        if wanted.is_file() and wanted.is_relative_to(dist) and wanted != dist / "index.html":
            # Vite names assets by content hash: they never change under their name.
            immutable = wanted.is_relative_to(dist / "assets")
            return FileResponse(
                wanted,
                headers={"cache-control": "public, max-age=31536000, immutable"}
                if immutable
                else {"cache-control": "no-cache"},
            )
        if request.url.path == "/":
            return Response(status_code=307, headers={"location": "/dashboard"})
        return FileResponse(dist / "index.html", headers={"cache-control": "no-cache"})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await transport.aclose()

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/api/{rest:path}", proxy, methods=methods),
            Route("/dashboard-health", health),
            Route("/{path:path}", page, methods=["GET", "HEAD"]),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(SecurityHeaders)
    return app


def serve(dist: Path, api_url: str, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 -- a server
    from paygate import serving

    serving.run(create_app(dist, api_url), host=host, port=port, log_level="warning", access_log=False)
