"""The seeded test merchant, registered through the ordinary command path at start-up."""

from typing import Any

import commands
import projections
from api.ids import now, stamp
from commands import merchant
from commands.usecases import register_merchant

#: Fixed identity of the seeded test merchant (SPEC.md).
TEST_MERCHANT_ID = "550e8400-e29b-41d4-a716-446655440000"
TEST_MERCHANT_NAME = "Test Merchant"
TEST_WEBHOOK_SECRET = "whsec_test_abc123"  # noqa: S105 -- SPEC.md's published test value


async def seed_test_merchant(pool: Any, settings: Any) -> bool:
    """Register the test merchant unless it exists; safe when many processes start at once."""
    async with pool.connection() as conn:
        session = commands.Session(conn, projections.project_inline, {"actor": "seed"})
        return await register_merchant(
            session,
            merchant.RegisterMerchant(
                merchant_id=TEST_MERCHANT_ID,
                name=TEST_MERCHANT_NAME,
                email=settings.test_merchant_email,
                api_key=settings.test_api_key,
                api_secret=settings.test_api_secret,
                webhook_secret=TEST_WEBHOOK_SECRET,
                occurred_at=stamp(now()),
            ),
        )
