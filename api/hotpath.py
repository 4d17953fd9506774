"""The hottest routes, answered before FastAPI's middleware, route matching and dependency solving.

``POST /api/v1/payments``, ``POST /api/v1/orders`` and ``GET /api/v1/payments/{payment_id}`` carry almost all
of a merchant's traffic. Profiled under load, the layers a request passes before its route function (five
middlewares of ours, FastAPI's and Starlette's own, one router after another, the dependency tree) were more
than half the CPU of such a request. A ``Lane`` sits in front of all of them (``main.Paygate.__call__``) and
runs the very same route function, with the dependencies it declares built by the same functions
(``api.deps``) in the order FastAPI builds them, and errors answered by the app's own exception handlers.

It serves only the plain case and does the middlewares' part itself (request id and access line, the body's
size and depth). A request it would have to answer differently from FastAPI (a query string, a NUL in the
path, a body without a length, too big, too deep, or failing validation) it hands on untouched, its body
replayed, to the full stack, which answers it as always. The documented API (OpenAPI) is the routes' own.
"""

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.types import Receive, Scope, Send

from api import deps
from api import logging as access
from api.idempotency import HEADER
from api.limits import replay, too_deep
from api.routers import orders, payments
from api.schemas import OrderCreate, PaymentCreate
from api.strictjson import check_body

#: Answers the request (its body already read, b"" for a GET), or None to hand it to the router's own route.
Handler = Callable[[Request, bytes], Awaitable[Response | None]]


def _body(request: Request, body: bytes, model: type[BaseModel]) -> Any:
    """The validated body, or None where FastAPI would refuse it (its error is the one to answer)."""
    parsed = check_body(request.headers.get("content-type"), body)
    if not isinstance(parsed, dict):
        return None
    try:
        return model.model_validate(parsed)
    except ValidationError:
        return None


async def _writer(request: Request, conn: psycopg.AsyncConnection[Any]) -> tuple[Any, Any, Any]:
    """A creating POST's merchant, session and idempotency, built as its dependencies build them."""
    merchant = await deps._merchant(request, conn)
    session = await deps._session(request, conn)
    idem = await deps._idempotent(request, conn, request.headers.get(HEADER))
    return merchant, session, idem


async def create_payment(request: Request, raw: bytes) -> Response | None:
    if (body := _body(request, raw, PaymentCreate)) is None:
        return None
    async with deps.connection(request) as conn:
        return await payments.create(body, *await _writer(request, conn))


async def create_order(request: Request, raw: bytes) -> Response | None:
    if (body := _body(request, raw, OrderCreate)) is None:
        return None
    async with deps.connection(request) as conn:
        return await orders.create_order(body, *await _writer(request, conn), request.app.state.settings)


async def get_payment(request: Request, _: bytes) -> Response | None:
    async with deps.connection(request) as conn:
        merchant = await deps._merchant(request, conn)
        return await payments.get_payment(request.path_params["payment_id"], merchant, conn, None)


#: Route function → what answers it here.
HANDLERS: dict[Callable[..., Any], Handler] = {
    payments.create: create_payment,
    orders.create_order: create_order,
    payments.get_payment: get_payment,
}


#: The headers that say how long a body is.
_FRAMING = (b"content-length", b"transfer-encoding")


class Lane:
    """Answers the plain requests of ``HANDLERS``' routes of ``app`` (which must include the payments and orders
    routers); hands every other request on."""

    def __init__(self, app: FastAPI, max_body: int) -> None:
        # The routers' own routes: FastAPI keeps an included router's routes inside it.
        routes = [r for r in (*payments.router.routes, *orders.router.routes) if isinstance(r, APIRoute)]
        routes = [r for r in routes if r.endpoint in HANDLERS]
        if len(routes) != len(HANDLERS):
            raise RuntimeError("a hot route's function is no longer a route of the app")
        self.app = app
        self.max_body = max_body
        self.routes = [(next(iter(r.methods or ())), r, HANDLERS[r.endpoint]) for r in routes]

    def match(self, scope: Scope) -> tuple[APIRoute, Handler, dict[str, str]] | None:
        if scope["query_string"] or "\x00" in scope["path"]:
            return None  # FastAPI reads the query (``?as_of=``); RefuseNul answers a NUL
        for method, route, handler in self.routes:
            if method == scope["method"] and (found := route.path_regex.match(scope["path"])) is not None:
                return route, handler, found.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """None once the request is answered; else the ``receive`` to hand it on with (its body replayed)."""
        if (found := self.match(scope)) is None:
            return receive
        route, handler, params = found
        body = b""
        if scope["method"] == "POST":
            framing = {k: v for k, v in scope["headers"] if k in _FRAMING}
            length = framing.get(b"content-length", b"")
            if b"transfer-encoding" in framing or not length.isdigit() or int(length) > self.max_body:
                return receive  # chunked, or too big: BodyLimit's to read or refuse
            if (read := await _read(receive)) is None:
                return None  # the client went away
            body = read
            if too_deep(body):
                return replay(body, receive)
        scope.update(app=self.app, route=route, endpoint=route.endpoint, path_params=params)
        request_id = access.begin(scope)
        started, status, handed_on = time.perf_counter(), 500, False
        try:
            request = Request(scope, replay(body, receive))
            try:
                response = await handler(request, body)
            except Exception as exc:
                response = await self._error(request, exc)
            if response is None:  # refused before any work: the full stack answers it, and logs it
                handed_on = True
                return replay(body, receive)
            response.raw_headers.append((b"x-request-id", request_id.encode()))
            status = response.status_code
            await response(scope, receive, send)
            return None
        finally:
            if handed_on:
                structlog.contextvars.clear_contextvars()
                del scope["route"], scope["endpoint"], scope["path_params"]
            else:
                access.end(scope, status, started)

    async def _error(self, request: Request, exc: Exception) -> Response:
        """The app's own answer to ``exc``: its exception handler for the nearest class (Exception's at worst)."""
        for cls in type(exc).__mro__:
            if (handle := self.app.exception_handlers.get(cls)) is not None:
                response = handle(request, exc)
                return await response if inspect.isawaitable(response) else response
        raise exc


async def _read(receive: Receive) -> bytes | None:
    """The whole body (its length is already known to be within bounds), or None if the client went away."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
