"""The merchant's money: balances per currency and the double-entry book behind them."""

from fastapi import APIRouter

from api.deps import ConnDep, MerchantDep, PageDep
from api.responses import JSON, collection
from api.schemas import READ, BalancesOut, CollectionOut, errors
from projections import balances, bodies

router = APIRouter(prefix="/api/v1", tags=["balance"], responses=errors(*READ))


@router.get("/balance", response_model=BalancesOut)
async def get_balance(merchant: MerchantDep, conn: ConnDep) -> JSON:
    """Successful, captured and refunded amounts, and what is payable and available, per currency.

    Kept by the projection runner: it trails the API by the time the runner takes to catch up.
    """
    rows = await balances.of_merchant(conn, merchant.id)
    return JSON({"merchant_id": merchant.id, "balances": [bodies.balance(r) for r in rows]})


@router.get("/ledger/entries", response_model=CollectionOut)
async def list_ledger_entries(merchant: MerchantDep, conn: ConnDep, page: PageDep) -> JSON:
    """The merchant's ledger entries, newest first, each with its balanced debit and credit lines."""
    rows = await balances.page(conn, merchant.id, count=page.count, skip=page.skip)
    return JSON(collection([bodies.ledger_entry(r) for r in rows]))
