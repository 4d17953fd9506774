"""The merchant's payment figures for the dashboard, from the async projections (never a scan per request)."""

from datetime import UTC

from fastapi import APIRouter, Request

from api.deps import ConnDep, MerchantDep
from api.responses import JSON
from api.schemas import READ, errors
from projections import daily_stats, stats

router = APIRouter(prefix="/api/v1", tags=["stats"], responses=errors(*READ))

#: Days the chart covers, today included.
DAYS = 30


@router.get("/stats")
async def get_stats(merchant: MerchantDep, conn: ConnDep, request: Request) -> JSON:
    """Totals (all payments, successful ones and their amount, success rate in %) and the last 30 UTC days.

    Kept by the projection runner: it trails the API by the time the runner takes to catch up.
    """
    totals = await stats.of_merchant(conn, merchant.id)
    total, success = totals["total_count"], totals["success_count"]
    today = request.app.state.clock().astimezone(UTC).date()
    return JSON(
        totals
        | {
            "success_rate": round(success * 100 / total, 1) if total else 0,
            "daily": await daily_stats.last_days(conn, merchant.id, today, DAYS),
        }
    )
