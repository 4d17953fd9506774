"""Named dependencies, so routes read like prose.

Every one is ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, and that hop cost more
CPU per request than the dependency itself.
"""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
import structlog
from fastapi import Depends, Header, Query, Request

import commands
import projections
from api import sessions
from api.auth import Merchant, credentials
from api.idempotency import HEADER, Fingerprint, IdempotentRequest
from api.schemas import MAX_SKIP
from commands.errors import ValidationFailed


def connection(request: Request) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
    """A pooled connection for the request, through the outage breaker."""
    cm: AbstractAsyncContextManager[psycopg.AsyncConnection[Any]] = request.app.state.breaker.connection(
        request.app.state.pool
    )
    return cm


async def _conn(request: Request) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with connection(request) as conn:
        yield conn


ConnDep = Annotated[psycopg.AsyncConnection[Any], Depends(_conn)]


async def _merchant(request: Request, conn: ConnDep) -> Merchant:
    pair = credentials(request.headers)
    if pair is None and sessions.COOKIE in request.cookies:
        # The dashboard: the same merchant-scoped routes, signed in by session cookie (CSRF-checked writes).
        row = await sessions.merchant_of(conn, request, request.app.state.clock())
        signed_in = Merchant(id=row["id"], name=row["name"], email=row["email"], api_key=row["api_key"])
        structlog.contextvars.bind_contextvars(merchant_id=signed_in.id)
        return signed_in
    client = request.client.host if request.client else None
    merchant: Merchant = await request.app.state.auth.merchant(conn, pair, client)
    structlog.contextvars.bind_contextvars(merchant_id=merchant.id)
    return merchant


MerchantDep = Annotated[Merchant, Depends(_merchant)]


@dataclass(frozen=True)
class Page:
    """Which slice of a collection to return: ``count`` items after skipping ``skip``."""

    count: int
    skip: int


async def _page(count: int = Query(10, ge=1, le=100), skip: int = Query(0, ge=0, le=MAX_SKIP)) -> Page:
    return Page(count, skip)


#: The Razorpay-style paging of every collection (``count`` 1–100, default 10; ``skip``).
PageDep = Annotated[Page, Depends(_page)]


async def _session(request: Request, conn: ConnDep) -> commands.Session:
    # As request.state.request_id reads it (api.logging.begin put it there), without its failed attribute lookup.
    metadata = {"request_id": request.scope["state"]["request_id"]}
    state = request.app.state
    return commands.Session(conn, projections.project_inline, metadata, state.snapshots, state.group)


SessionDep = Annotated[commands.Session, Depends(_session)]


async def _settings(request: Request) -> Any:
    return request.app.state.settings


SettingsDep = Annotated[Any, Depends(_settings)]


async def _idempotent(
    request: Request,
    conn: ConnDep,
    key: Annotated[
        str | None,
        Header(alias=HEADER, description="Makes the request safe to retry: replayed byte for byte for 24 hours"),
    ] = None,
) -> IdempotentRequest:
    body = await request.body()
    # Worked out only with a key: most requests have none, and the URL and a canonical body cost CPU.
    return IdempotentRequest(
        conn, key, lambda: Fingerprint.of(request.method, request.url.path, body), request.app.state.clock
    )


#: The request's ``Idempotency-Key`` handling: ``return await idem.once(merchant_id, work)`` in a creating POST
#: (``idem.riding`` where the work's append can carry its answer).
IdempotencyDep = Annotated[IdempotentRequest, Depends(_idempotent)]


async def _as_of(
    as_of: str | None = Query(
        None, max_length=64, description="ISO 8601 time: the object as it stood then, folded from its events"
    ),
) -> datetime | None:
    if as_of is None:
        return None
    try:
        at = datetime.fromisoformat(as_of.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationFailed("as_of must be an ISO 8601 time such as 2024-01-15T10:31:00Z", field="as_of") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


#: ``?as_of=<ISO 8601>`` of a read of one object (None: now, from the live table).
AsOfDep = Annotated[datetime | None, Depends(_as_of)]
