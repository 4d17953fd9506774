"""History over HTTP: an object's events, the merchant's event feed in commit order (objects as they stood at a
time are ``?as_of=`` on the objects' own GETs)."""

from fastapi import APIRouter, Query

from api.deps import ConnDep, MerchantDep
from api.responses import JSON, collection
from api.schemas import READ, READ_ONE, CollectionOut, errors
from commands.errors import OrderNotFound, PaymentNotFound, RefundNotFound, ValidationFailed
from ledger import Cursor, read_stream
from projections import history, orders, payments, refunds

router = APIRouter(prefix="/api/v1", tags=["history"])


@router.get("/payments/{payment_id}/events", response_model=CollectionOut, responses=errors(*READ_ONE))
async def payment_events(payment_id: str, merchant: MerchantDep, conn: ConnDep) -> JSON:
    """Every event of the payment (its refunds' too, which live in its stream), oldest first."""
    if await payments.get(conn, payment_id, merchant.id) is None:
        raise PaymentNotFound()
    return JSON(collection([history.item(e) for e in await read_stream(conn, f"payment-{payment_id}")]))


@router.get("/orders/{order_id}/events", response_model=CollectionOut, responses=errors(*READ_ONE))
async def order_events(order_id: str, merchant: MerchantDep, conn: ConnDep) -> JSON:
    """Every event of the order, oldest first."""
    if await orders.get(conn, order_id, merchant.id) is None:
        raise OrderNotFound()
    return JSON(collection([history.item(e) for e in await read_stream(conn, f"order-{order_id}")]))


@router.get("/refunds/{refund_id}/events", response_model=CollectionOut, responses=errors(*READ_ONE))
async def refund_events(refund_id: str, merchant: MerchantDep, conn: ConnDep) -> JSON:
    """The refund's events (requested, processed), oldest first."""
    row = await refunds.get(conn, refund_id, merchant.id)
    if row is None:
        raise RefundNotFound()
    events = await read_stream(conn, f"payment-{row['payment_id']}")
    return JSON(collection([history.item(e) for e in events if e.data.get("refund_id") == refund_id]))


@router.get("/events", responses=errors(*READ))
async def event_feed(
    merchant: MerchantDep,
    conn: ConnDep,
    after: str | None = Query(None, max_length=40, description="the `next` of the previous page; absent: the start"),
    limit: int = Query(100, ge=1, le=1000),
) -> JSON:
    """The merchant's own events in commit order. Resume with ``after=<next>``: no event is skipped or repeated,
    even one whose transaction committed after a later-numbered one."""
    cursor = Cursor() if after is None else history.parse_cursor(after)
    if cursor is None:
        raise ValidationFailed("after must be a cursor given as `next` by this endpoint", field="after")
    events = await history.feed(conn, merchant.id, cursor, limit)
    if events:
        cursor = Cursor(events[-1].tx_id, events[-1].position)
    body = collection([history.item(e) for e in events]) | {"next": history.cursor_text(cursor)}
    return JSON(body)
