"""Orders: create, read, list, the public view for checkout, and an order's payments."""

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from api.auth import Merchant
from api.deps import AsOfDep, ConnDep, IdempotencyDep, MerchantDep, PageDep, SessionDep, SettingsDep
from api.idempotency import Keep
from api.ids import new_id, now, stamp
from api.responses import JSON, collection
from api.schemas import PUBLIC, READ, READ_ONE, CollectionOut, OrderCreate, OrderOut, OrderPublicOut, errors
from api.strictjson import StrictJsonRoute
from commands import order
from commands.errors import OrderNotFound
from commands.handler import Session, handle
from projections import bodies, history, orders, payments

router = APIRouter(prefix="/api/v1/orders", tags=["orders"], route_class=StrictJsonRoute)


@router.post("", status_code=201, response_model=OrderOut, responses=errors(*READ, "CONFLICT_ERROR"))
async def create_order(
    body: OrderCreate, merchant: MerchantDep, session: SessionDep, idem: IdempotencyDep, settings: SettingsDep
) -> Response:
    return await idem.riding(
        merchant.id, lambda keep: _create_order(body, merchant, session, settings.max_order_amount, keep)
    )


async def _create_order(
    body: OrderCreate, merchant: Merchant, session: Session, max_amount: int, keep: Keep | None
) -> JSON:
    command = order.CreateOrder(
        order_id=new_id("order_"),
        merchant_id=merchant.id,
        amount=body.amount,
        currency=body.currency,
        receipt=body.receipt,
        notes=body.notes,
        occurred_at=stamp(at := now()),
        max_amount=max_amount,
    )
    session.metadata["merchant_id"] = merchant.id
    answer: list[JSON] = []

    def answered(events: list[Any]) -> list[Any]:
        # The body from what is appended, not a re-read: a new order's row is its created event. Known before
        # the append, so the answer (with an idempotency key) rides in it.
        created = events[0]
        row = {
            "id": created.order_id,
            "merchant_id": created.merchant_id,
            "amount": created.amount,
            "currency": created.currency,
            "receipt": created.receipt,
            "notes": created.notes,
            "status": "created",
            "created_at": at,
            "updated_at": at,
        }
        answer[:] = [JSON(bodies.order(row), status_code=201)]
        return keep(answer[0]) if keep else []

    await handle(session, order, order.stream_id(command.order_id), command, new_stream=True, also=answered)
    return answer[0]


@router.get("", response_model=CollectionOut, responses=errors(*READ))
async def list_orders(merchant: MerchantDep, conn: ConnDep, page: PageDep) -> JSON:
    rows = await orders.page(conn, merchant.id, count=page.count, skip=page.skip)
    return JSON(collection([bodies.order(r) for r in rows]))


@router.get("/{order_id}", response_model=OrderOut, responses=errors(*READ_ONE))
async def get_order(order_id: str, merchant: MerchantDep, conn: ConnDep, as_of: AsOfDep) -> JSON:
    if as_of is None:
        row = await orders.get(conn, order_id, merchant.id)
    else:
        row = await history.order_at(conn, order_id, merchant.id, as_of)
    if row is None:
        raise OrderNotFound()
    return JSON(bodies.order(row))


@router.get("/{order_id}/public", response_model=OrderPublicOut, responses=errors(*PUBLIC))
async def get_order_public(order_id: str, conn: ConnDep) -> JSON:
    row = await orders.get(conn, order_id, None)
    if row is None:
        raise OrderNotFound()
    return JSON(bodies.order_public(row))


@router.get("/{order_id}/payments", response_model=CollectionOut, responses=errors(*READ_ONE))
async def list_order_payments(
    order_id: str,
    merchant: MerchantDep,
    conn: ConnDep,
    page: PageDep,
) -> JSON:
    if await orders.get(conn, order_id, merchant.id) is None:
        raise OrderNotFound()
    rows = await payments.page(conn, merchant.id, count=page.count, skip=page.skip, order_id=order_id)
    return JSON(collection([bodies.payment(r) for r in rows]))
