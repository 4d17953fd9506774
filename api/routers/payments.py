"""Payments: create (merchant and public checkout), read, list with filters, and follow one (server push)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from api.deps import AsOfDep, ConnDep, IdempotencyDep, MerchantDep, PageDep, SessionDep
from api.idempotency import Keep
from api.ids import new_id, now, stamp
from api.paywatch import PaymentWatcher
from api.responses import JSON, collection
from api.schemas import (
    PUBLIC,
    READ,
    READ_ONE,
    WRITE,
    CaptureIn,
    CollectionOut,
    PaymentCreate,
    PaymentOut,
    PaymentPublicOut,
    errors,
)
from api.signature import public_payment
from api.strictjson import StrictJsonRoute
from commands import order, payment
from commands.errors import OrderNotFound, PaymentNotFound
from commands.handler import Session, handle
from commands.instruments import CardDetails
from commands.usecases import load_order, pay_order
from projections import bodies, history, merchants, payments

#: The largest `from`/`to` accepted (9999-12-31T23:59:59Z), so a huge number is a 400 and not an overflow.
LATEST = 253_402_300_799

router = APIRouter(prefix="/api/v1/payments", tags=["payments"], route_class=StrictJsonRoute)
#: Longest life of one event stream (seconds): the browser reconnects at once (``retry``), and an API process
#: shutting down never waits on streams for longer than this.
STREAM_S = 25.0
#: A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 10.0
#: What creating a payment answers besides 201: the instrument's own codes too.
INSTRUMENT = ("INVALID_VPA", "INVALID_CARD", "EXPIRED_CARD")


async def _create(session: Session, body: PaymentCreate, merchant_id: str | None, keep: Keep | None = None) -> JSON:
    """Create a payment on ``body.order_id``; a merchant's own order, or (public) any active merchant's.
    ``keep``: where the answer rides in the append, with the request's idempotency key."""
    at = now()
    card = CardDetails(**body.card.model_dump()) if body.card else None
    answer: list[JSON] = []

    async def command_for(o: order.Order) -> payment.CreatePayment:
        if merchant_id is None:
            owner = await merchants.by_id(session.conn, o.merchant_id)
            if owner is None or not owner["is_active"]:
                raise OrderNotFound()
        session.metadata["merchant_id"] = o.merchant_id
        return payment.CreatePayment(
            payment_id=new_id("pay_"),
            merchant_id=o.merchant_id,
            order=payment.OrderSnapshot(o.order_id, o.amount, o.currency, o.paid),
            method=body.method,
            vpa=body.vpa,
            card=card,
            occurred_at=stamp(at),
            year=at.year,
            month=at.month,
        )

    def answered(events: list[Any]) -> list[Any]:
        # The body from what is appended, not a re-read: a new payment's row is its created event (the
        # projection writes exactly these values). Known before the append, so the answer rides in it.
        answer[:] = [JSON(bodies.payment(_row(events[0], at), public=merchant_id is None), status_code=201)]
        return keep(answer[0]) if keep else []

    await pay_order(session, body.order_id, merchant_id, command_for, also=answered)
    return answer[0]


def _row(created: payment.PaymentCreated, at: datetime) -> dict[str, Any]:
    """A new payment's read row, as the projection writes it from its created event."""
    return {
        "id": created.payment_id,
        "order_id": created.order_id,
        "merchant_id": created.merchant_id,
        "amount": created.amount,
        "currency": created.currency,
        "method": created.method,
        "status": "pending",
        "vpa": created.vpa,
        "card_network": created.card_network,
        "card_last4": created.card_last4,
        "error_code": None,
        "error_description": None,
        "captured": False,
        "amount_refunded": 0,
        "created_at": at,
        "updated_at": at,
    }


@router.post("", status_code=201, response_model=PaymentOut, responses=errors(*WRITE, *INSTRUMENT))
async def create(body: PaymentCreate, merchant: MerchantDep, session: SessionDep, idem: IdempotencyDep) -> Response:
    return await idem.riding(merchant.id, lambda keep: _create(session, body, merchant.id, keep))


@router.post(
    "/public", status_code=201, response_model=PaymentOut, responses=errors(*PUBLIC, "CONFLICT_ERROR", *INSTRUMENT)
)
async def create_public(body: PaymentCreate, session: SessionDep, idem: IdempotencyDep) -> Response:
    if idem.key is None:
        return await _create(session, body, None)
    # A checkout's key is scoped to the merchant whose order it pays.
    owner = (await load_order(session, body.order_id, None)).merchant_id
    return await idem.once(owner, lambda: _create(session, body, None))


@router.post("/{payment_id}/capture", response_model=PaymentOut, responses=errors(*WRITE))
async def capture(
    payment_id: str, body: CaptureIn, merchant: MerchantDep, session: SessionDep, idem: IdempotencyDep
) -> Response:
    async def work() -> Response:
        command = payment.CapturePayment(merchant.id, body.amount, stamp(now()), body.currency)
        session.metadata["merchant_id"] = merchant.id
        await handle(session, payment, payment.stream_id(payment_id), command, serialize=True)
        row = await payments.get(session.conn, payment_id, merchant.id)
        assert row is not None
        return JSON(bodies.payment(row))

    return await idem.once(merchant.id, work)


@router.get("", response_model=CollectionOut, responses=errors(*READ))
async def list_payments(
    merchant: MerchantDep,
    conn: ConnDep,
    page: PageDep,
    status: Literal["pending", "success", "failed"] | None = None,
    method: Literal["upi", "card"] | None = None,
    search: str | None = Query(None, max_length=64, description="a payment id or an order id (exact)"),
    since: int | None = Query(None, alias="from", ge=0, le=LATEST, description="unix seconds"),
    until: int | None = Query(None, alias="to", ge=0, le=LATEST, description="unix seconds, inclusive"),
) -> JSON:
    rows = await payments.page(
        conn,
        merchant.id,
        count=page.count,
        skip=page.skip,
        status=status,
        method=method,
        search=search.strip() if search else None,
        since=datetime.fromtimestamp(since, UTC) if since is not None else None,
        # Bodies show created_at to the second: `to` takes in the whole of its second, as a client reading
        # created_at back expects.
        until=datetime.fromtimestamp(until, UTC) + timedelta(seconds=1, microseconds=-1) if until is not None else None,
    )
    return JSON(collection([bodies.payment(r) for r in rows]))


@router.get("/{payment_id}", response_model=PaymentOut, responses=errors(*READ_ONE))
async def get_payment(payment_id: str, merchant: MerchantDep, conn: ConnDep, as_of: AsOfDep) -> JSON:
    if as_of is None:
        row = await payments.get(conn, payment_id, merchant.id)
    else:
        row = await history.payment_at(conn, payment_id, merchant.id, as_of)
    if row is None:
        raise PaymentNotFound()
    return JSON(bodies.payment(row))


@router.get("/{payment_id}/public", response_model=PaymentPublicOut, responses=errors(*PUBLIC))
async def get_payment_public(payment_id: str, conn: ConnDep) -> JSON:
    row = await payments.get(conn, payment_id, None)
    if row is None:
        raise PaymentNotFound()
    return JSON(await public_payment(conn, row))


@router.get(
    "/{payment_id}/public/events",
    responses=errors(*PUBLIC) | {200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
    response_class=StreamingResponse,
)
async def follow_payment_public(payment_id: str, request: Request) -> Response:
    """Server-sent events: a ``payment`` event with the public body now and at each change, until it is final."""
    # No ConnDep: a dependency's connection would be held for the whole stream.
    async with request.app.state.breaker.connection(request.app.state.pool) as conn:
        if await payments.get(conn, payment_id, None) is None:
            raise PaymentNotFound()
    watcher: PaymentWatcher = request.app.state.payment_watcher
    return StreamingResponse(
        _stream(watcher, request.app.state.pool, payment_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(watcher: PaymentWatcher, pool: Any, payment_id: str) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_S
    sent: dict[str, Any] | None = None
    # Watch before the first read, so a change between the two is never missed.
    async with watcher.watch(payment_id) as changed:
        yield b"retry: 500\n\n"
        while True:
            async with pool.connection(timeout=5) as conn:
                row = await payments.get(conn, payment_id, None)
                body = None if row is None else await public_payment(conn, row)
            if body is not None and body != sent:
                yield b"event: payment\ndata: " + orjson.dumps(body) + b"\n\n"
                sent = body
            if body is None or body["status"] != "pending":
                return
            while not changed.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(changed.wait(), min(KEEPALIVE_S, remaining))
                except TimeoutError:
                    yield b": keep-alive\n\n"
            changed.clear()
