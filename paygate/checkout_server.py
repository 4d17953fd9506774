"""The checkout server (port 3001): the built checkout page at /checkout, the SDK at /checkout.js, and the few
public API endpoints the page calls, passed through to the API so the page talks only to its own origin.

Every page answer carries a Content-Security-Policy; when the order's merchant listed allowed checkout origins,
its ``frame-ancestors`` names exactly those, so no other site can frame that checkout.
"""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

#: The public API operations the page may call through this server (method, path); nothing else is passed.
_PASSED = (
    ("GET", re.compile(r"/api/v1/orders/[^/]{1,64}/public")),
    ("POST", re.compile(r"/api/v1/payments/public")),
    ("GET", re.compile(r"/api/v1/payments/[^/]{1,64}/public(/events)?")),
)
_REQUEST_HEADERS = ("content-type", "accept", "idempotency-key", "last-event-id")
_RESPONSE_HEADERS = ("content-type", "cache-control", "retry-after")
#: Largest request body passed on (a payment request is well under 1 KB).
MAX_BODY = 16_384
_ORDER_ID = re.compile(r"[A-Za-z0-9_]{1,64}")

_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)


def error(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "description": description}}, status_code=status)


def create_app(dist: Path, api_url: str) -> Starlette:
    """Serve ``dist`` (the built checkout_ui) and pass the public endpoints on to the API at ``api_url``."""
    index = dist / "index.html"
    sdk = dist / "checkout.js"

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(10.0, read=60.0)  # reads cover an event stream's quiet spells
        async with httpx.AsyncClient(base_url=api_url, timeout=timeout) as client:
            app.state.client = client
            yield

    async def frame_ancestors(client: httpx.AsyncClient, order_id: str) -> str | None:
        """The directive for this order: its merchant's origins, None when framing is not restricted."""
        if not _ORDER_ID.fullmatch(order_id):
            return None
        try:
            r = await client.get(f"/api/v1/checkout/orders/{order_id}/origins", timeout=3)
        except httpx.HTTPError:
            return "'self'"  # cannot tell who may frame it: nobody else, until the API answers again
        if r.status_code != 200:
            return None if r.status_code in (400, 404) else "'self'"
        origins: list[str] = r.json().get("allowed_origins") or []
        return " ".join(["'self'", *origins]) if origins else None

    async def page(request: Request) -> Response:
        ancestors = await frame_ancestors(request.app.state.client, request.query_params.get("order_id", ""))
        policy = _POLICY + (f"; frame-ancestors {ancestors}" if ancestors else "")
        return FileResponse(
            index,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": policy,
                "Cache-Control": "no-store",  # the policy depends on the order
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def script(request: Request) -> Response:
        return FileResponse(
            sdk,
            media_type="text/javascript; charset=utf-8",
            headers={
                "Cache-Control": "public, max-age=300",  # not fingerprinted: a short cache picks up new releases
                "X-Content-Type-Options": "nosniff",
                "Cross-Origin-Resource-Policy": "cross-origin",
            },
        )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def passthrough(request: Request) -> Response:
        path = request.url.path
        if not any(request.method == m and p.fullmatch(path) for m, p in _PASSED):
            return error(404, "NOT_FOUND_ERROR", "Not found")
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, "BAD_REQUEST_ERROR", f"request body over {MAX_BODY} bytes")
        headers = {h: v for h in _REQUEST_HEADERS if (v := request.headers.get(h)) is not None}
        if request.client:
            headers["x-forwarded-for"] = request.client.host
        client: httpx.AsyncClient = request.app.state.client
        try:
            upstream = await client.send(
                client.build_request(request.method, path, content=body, headers=headers), stream=True
            )
        except httpx.HTTPError:
            return error(503, "SERVICE_UNAVAILABLE", "The payment server cannot be reached; try again shortly")
        kept = {h: v for h in _RESPONSE_HEADERS if (v := upstream.headers.get(h)) is not None}
        return StreamingResponse(_relay(upstream), status_code=upstream.status_code, headers=kept)

    async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            return  # the API ended the stream: the browser reconnects or polls
        finally:
            await upstream.aclose()  # also when the browser went away mid-stream

    async def static_headers(scope: Any, receive: Any, send: Any) -> None:
        async def with_cache(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).extend(
                    [
                        (b"cache-control", b"public, max-age=31536000, immutable"),  # file names carry a hash
                        (b"x-content-type-options", b"nosniff"),
                    ]
                )
            await send(message)

        await assets(scope, receive, with_cache)

    assets = StaticFiles(directory=dist / "assets")
    return Starlette(
        routes=[
            Route("/checkout", page),
            Route("/checkout.js", script),
            Route("/health", health),
            Route("/api/v1/{path:path}", passthrough, methods=["GET", "POST"]),
            Mount("/assets", app=static_headers),
        ],
        lifespan=lifespan,
    )


def serve(dist: Path, api_url: str, host: str, port: int) -> None:
    from paygate import serving

    serving.run(create_app(dist, api_url), host=host, port=port, log_level="warning", access_log=False)
