"""Checkout settings: the origins allowed to embed a merchant's checkout, and what the checkout server reads."""

from fastapi import APIRouter

from api.deps import ConnDep, MerchantDep, SessionDep
from api.ids import now, stamp
from api.responses import JSON
from api.schemas import PUBLIC, READ, CheckoutConfigIn, CheckoutConfigOut, errors
from api.strictjson import StrictJsonRoute
from commands import merchant as merchants_agg
from commands.errors import OrderNotFound
from commands.handler import handle
from projections import merchants

router = APIRouter(prefix="/api/v1/checkout", tags=["checkout"], route_class=StrictJsonRoute)


@router.get("/config", response_model=CheckoutConfigOut, responses=errors(*READ))
async def get_config(merchant: MerchantDep, conn: ConnDep) -> JSON:
    return JSON({"allowed_origins": await merchants.checkout_origins(conn, merchant.id)})


@router.put("/config", response_model=CheckoutConfigOut, responses=errors(*READ, "CONFLICT_ERROR"))
async def put_config(body: CheckoutConfigIn, merchant: MerchantDep, session: SessionDep) -> JSON:
    command = merchants_agg.ConfigureCheckout(merchant.id, tuple(body.allowed_origins), stamp(now()))
    session.metadata["merchant_id"] = merchant.id
    await handle(session, merchants_agg, merchants_agg.stream_id(merchant.id), command)
    return JSON({"allowed_origins": await merchants.checkout_origins(session.conn, merchant.id)})


@router.get("/orders/{order_id}/origins", response_model=CheckoutConfigOut, responses=errors(*PUBLIC))
async def order_origins(order_id: str, conn: ConnDep) -> JSON:
    """Public: the origins that may frame the checkout of this order (the checkout server's frame-ancestors)."""
    origins = await merchants.checkout_origins_of_order(conn, order_id)
    if origins is None:
        raise OrderNotFound()
    return JSON({"allowed_origins": origins})
