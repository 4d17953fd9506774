"""The hottest routes, answered without FastAPI's route matching and dependency solving.

``POST /api/v1/payments``, ``POST /api/v1/orders`` and ``GET /api/v1/payments/{payment_id}`` carry almost all
of a merchant's traffic. Profiled in process, FastAPI's matching (one included router after another) and its
dependency solving were half the CPU of such a request. A ``HotRoute`` sits first in the router and runs the
very same route function, with the dependencies it declares built by the same functions (``api.deps``), in the
order FastAPI builds them.

It serves only the plain case: a request it would have to answer differently from FastAPI (a body that fails
validation, a query string, a malformed body) it hands, untouched, to the router's own route, which answers
it as always. The documented API (OpenAPI) is the routes' own, unchanged.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from api import deps
from api.idempotency import HEADER
from api.limits import replay
from api.routers import orders, payments
from api.schemas import OrderCreate, PaymentCreate
from api.strictjson import check_body

#: Set on a request handed to the router's own route, so the hot route does not take it again.
_HANDED_ON = "paygate.handed_on"

#: Answers the request, or None to hand it to the router's own route.
Handler = Callable[[Request], Awaitable[Response | None]]


async def _body(request: Request, model: type[BaseModel]) -> Any:
    """The validated body, or None where FastAPI would refuse it (its error is the one to answer)."""
    parsed = check_body(request.headers.get("content-type"), await request.body())
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


async def create_payment(request: Request) -> Response | None:
    if (body := await _body(request, PaymentCreate)) is None:
        return None
    async with deps.connection(request) as conn:
        return await payments.create(body, *await _writer(request, conn))


async def create_order(request: Request) -> Response | None:
    if (body := await _body(request, OrderCreate)) is None:
        return None
    async with deps.connection(request) as conn:
        return await orders.create_order(body, *await _writer(request, conn), request.app.state.settings)


async def get_payment(request: Request) -> Response | None:
    if request.scope["query_string"]:  # ?as_of=, or anything FastAPI would have to look at
        return None
    async with deps.connection(request) as conn:
        merchant = await deps._merchant(request, conn)
        return await payments.get_payment(request.path_params["payment_id"], merchant, conn, None)


class HotRoute(BaseRoute):
    """Matches what ``route`` matches, and answers it with ``handler`` when the handler can."""

    def __init__(self, route: APIRoute, handler: Handler) -> None:
        self.method = next(iter(route.methods or ()))  # one each: POST or GET
        self.route = route
        self.handler = handler

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != self.method or _HANDED_ON in scope:
            return Match.NONE, {}
        found = self.route.path_regex.match(scope["path"])
        if found is None:
            return Match.NONE, {}
        return Match.FULL, {"route": self.route, "endpoint": self.route.endpoint, "path_params": found.groupdict()}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.handler(request)
        if response is None:
            scope[_HANDED_ON] = True
            await scope["router"](scope, replay(await request.body(), receive), send)
            return
        await response(scope, receive, send)


#: Route function → what answers it here.
HANDLERS: dict[Callable[..., Any], Handler] = {
    payments.create: create_payment,
    orders.create_order: create_order,
    payments.get_payment: get_payment,
}


def install(app: FastAPI) -> None:
    """Put a hot route for each of ``HANDLERS``' routes first in ``app``'s router (which must include the
    payments and orders routers: FastAPI keeps their routes inside them)."""
    routes = [*payments.router.routes, *orders.router.routes]
    found = [r for r in routes if isinstance(r, APIRoute) and r.endpoint in HANDLERS]
    if len(found) != len(HANDLERS):
        raise RuntimeError("a hot route's function is no longer a route of the app")
    app.router.routes[:0] = [HotRoute(r, HANDLERS[r.endpoint]) for r in found]
