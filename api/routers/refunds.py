"""Refunds: request one on a payment (full or partial), read them, list them per payment or per merchant."""

from fastapi import APIRouter
from starlette.responses import Response

from api.auth import Merchant
from api.deps import AsOfDep, ConnDep, IdempotencyDep, MerchantDep, PageDep, SessionDep
from api.ids import new_id, now, stamp
from api.responses import JSON, collection
from api.schemas import READ, READ_ONE, WRITE, CollectionOut, RefundCreate, RefundOfPayment, RefundOut, errors
from api.strictjson import StrictJsonRoute
from commands import payment, refund
from commands.errors import PaymentNotFound, RefundNotFound
from commands.handler import Session, handle
from projections import bodies, history, payments, refunds

router = APIRouter(prefix="/api/v1", tags=["refunds"], route_class=StrictJsonRoute)


async def _refund(session: Session, merchant: Merchant, payment_id: str, body: RefundCreate) -> JSON:
    command = refund.RequestRefund(
        refund_id=new_id("rfnd_"),
        payment_id=payment_id,
        merchant_id=merchant.id,
        amount=body.amount,
        reason=body.reason,
        occurred_at=stamp(now()),
        notes=body.notes,
    )
    session.metadata["merchant_id"] = merchant.id
    await handle(session, payment, payment.stream_id(payment_id), command, serialize=True)
    row = await refunds.get(session.conn, command.refund_id, merchant.id)
    assert row is not None
    return JSON(bodies.refund(row), status_code=201)


@router.post("/payments/{payment_id}/refunds", status_code=201, response_model=RefundOut, responses=errors(*WRITE))
@router.post("/payments/{payment_id}/refund", status_code=201, response_model=RefundOut, include_in_schema=False)
async def create_refund(
    payment_id: str, body: RefundCreate, merchant: MerchantDep, session: SessionDep, idem: IdempotencyDep
) -> Response:
    return await idem.once(merchant.id, lambda: _refund(session, merchant, payment_id, body))


@router.post("/refunds", status_code=201, response_model=RefundOut, responses=errors(*WRITE))
async def create_refund_of_payment(
    body: RefundOfPayment, merchant: MerchantDep, session: SessionDep, idem: IdempotencyDep
) -> Response:
    """Razorpay's ``refund.create``: the same refund, with the payment named in the body."""
    return await idem.once(merchant.id, lambda: _refund(session, merchant, body.payment_id, body))


@router.get("/payments/{payment_id}/refunds", response_model=CollectionOut, responses=errors(*READ_ONE))
async def list_payment_refunds(
    payment_id: str,
    merchant: MerchantDep,
    conn: ConnDep,
    page: PageDep,
) -> JSON:
    if await payments.get(conn, payment_id, merchant.id) is None:
        raise PaymentNotFound()
    rows = await refunds.page(conn, merchant.id, count=page.count, skip=page.skip, payment_id=payment_id)
    return JSON(collection([bodies.refund(r) for r in rows]))


@router.get("/payments/{payment_id}/refunds/{refund_id}", response_model=RefundOut, responses=errors(*READ_ONE))
async def get_payment_refund(payment_id: str, refund_id: str, merchant: MerchantDep, conn: ConnDep) -> JSON:
    row = await refunds.get(conn, refund_id, merchant.id)
    if row is None or row["payment_id"] != payment_id:
        raise RefundNotFound()
    return JSON(bodies.refund(row))


@router.get("/refunds", response_model=CollectionOut, responses=errors(*READ))
async def list_refunds(merchant: MerchantDep, conn: ConnDep, page: PageDep) -> JSON:
    rows = await refunds.page(conn, merchant.id, count=page.count, skip=page.skip)
    return JSON(collection([bodies.refund(r) for r in rows]))


@router.get("/refunds/{refund_id}", response_model=RefundOut, responses=errors(*READ_ONE))
async def get_refund(refund_id: str, merchant: MerchantDep, conn: ConnDep, as_of: AsOfDep) -> JSON:
    row = await refunds.get(conn, refund_id, merchant.id)
    if row is not None and as_of is not None:
        row = await history.refund_at(conn, row["payment_id"], refund_id, merchant.id, as_of)
    if row is None:
        raise RefundNotFound()
    return JSON(bodies.refund(row))
