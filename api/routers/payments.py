"""Payments: create (merchant and public checkout), read, list with filters."""

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query

from api.deps import ConnDep, MerchantDep, SessionDep
from api.ids import new_id, now, stamp
from api.responses import JSON, collection
from api.schemas import ERRORS, CollectionOut, PaymentCreate, PaymentOut
from commands import payment
from commands.errors import OrderNotFound, PaymentNotFound
from commands.handler import Session
from commands.instruments import CardDetails
from commands.usecases import create_payment, load_order
from projections import bodies, merchants, payments

router = APIRouter(prefix="/api/v1/payments", tags=["payments"], responses=ERRORS)


async def _create(session: Session, body: PaymentCreate, merchant_id: str | None) -> JSON:
    """Create a payment on ``body.order_id``; a merchant's own order, or (public) any active merchant's."""
    o = await load_order(session, body.order_id, merchant_id)
    if merchant_id is None:
        owner = await merchants.by_id(session.conn, o.merchant_id)
        if owner is None or not owner["is_active"]:
            raise OrderNotFound()
    at = now()
    card = CardDetails(**body.card.model_dump()) if body.card else None
    session.metadata["merchant_id"] = o.merchant_id
    created = await create_payment(
        session,
        payment.CreatePayment(
            payment_id=new_id("pay_"),
            merchant_id=o.merchant_id,
            order=payment.OrderSnapshot(o.order_id, o.amount, o.currency, o.paid),
            method=body.method,
            vpa=body.vpa,
            card=card,
            occurred_at=stamp(at),
            year=at.year,
            month=at.month,
        ),
    )
    row = await payments.get(session.conn, created.payment_id, None)
    assert row is not None
    return JSON(bodies.payment(row, public=merchant_id is None), status_code=201)


@router.post("", status_code=201, response_model=PaymentOut)
async def create(body: PaymentCreate, merchant: MerchantDep, session: SessionDep) -> JSON:
    return await _create(session, body, merchant.id)


@router.post("/public", status_code=201, response_model=PaymentOut)
async def create_public(body: PaymentCreate, session: SessionDep) -> JSON:
    return await _create(session, body, None)


@router.get("", response_model=CollectionOut)
async def list_payments(
    merchant: MerchantDep,
    conn: ConnDep,
    status: Literal["pending", "success", "failed"] | None = None,
    since: int | None = Query(None, alias="from", ge=0, description="unix seconds"),
    until: int | None = Query(None, alias="to", ge=0, description="unix seconds"),
    count: int = Query(10, ge=1, le=100),
    skip: int = Query(0, ge=0),
) -> JSON:
    rows = await payments.page(
        conn,
        merchant.id,
        count=count,
        skip=skip,
        status=status,
        since=datetime.fromtimestamp(since, UTC) if since is not None else None,
        until=datetime.fromtimestamp(until, UTC) if until is not None else None,
    )
    return JSON(collection([bodies.payment(r) for r in rows]))


@router.get("/{payment_id}", response_model=PaymentOut)
async def get_payment(payment_id: str, merchant: MerchantDep, conn: ConnDep) -> JSON:
    row = await payments.get(conn, payment_id, merchant.id)
    if row is None:
        raise PaymentNotFound()
    return JSON(bodies.payment(row))


@router.get("/{payment_id}/public", response_model=PaymentOut)
async def get_payment_public(payment_id: str, conn: ConnDep) -> JSON:
    row = await payments.get(conn, payment_id, None)
    if row is None:
        raise PaymentNotFound()
    return JSON(bodies.payment(row, public=True))
