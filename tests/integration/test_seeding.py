"""The seeded test merchant is registered through the command path exactly once, however many start together."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from storekit import app_connection

from api.seed import TEST_MERCHANT_ID, seed_test_merchant
from paygate.settings import Settings
from projections import merchants


class OwnConnections:
    """Stands in for a pool: every caller gets a connection (and so a database session) of its own."""

    def __init__(self, url: str) -> None:
        self.url = url

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        async with app_connection(self.url) as conn:
            yield conn


async def test_many_sessions_seeding_at_once_register_the_merchant_once(store: str) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    outcomes = await asyncio.gather(*(seed_test_merchant(OwnConnections(store), settings) for _ in range(12)))
    assert outcomes.count(True) == 1
    again = await seed_test_merchant(OwnConnections(store), settings)
    assert again is False
    async with app_connection(store) as conn:
        cur = await conn.execute("SELECT stream_id, stream_version FROM events WHERE type = 'merchant.registered.v2'")
        assert await cur.fetchall() == [(f"merchant-{TEST_MERCHANT_ID}", 1)]
        cur = await conn.execute("SELECT id::text, email, api_key FROM merchants")
        assert await cur.fetchall() == [(TEST_MERCHANT_ID, "test@example.com", "key_test_abc123")]
        # One data key, the one the secrets were sealed with, although twelve sessions raced to make it.
        assert await merchants.api_secret(conn, TEST_MERCHANT_ID) == "secret_test_xyz789"
        config = await merchants.webhook_config(conn, TEST_MERCHANT_ID)
        assert config is not None and config["webhook_secret"] == "whsec_test_abc123"
