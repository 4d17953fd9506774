"""Merchant lookup by API key: the seeded merchant is found, wrong pairs are refused, and the key cache stays
bounded however many unknown keys arrive."""

from typing import Any

import pytest
from starlette.datastructures import Headers
from storekit import app_connection

from api.auth import Authenticator, credentials
from api.seed import TEST_MERCHANT_ID, seed_test_merchant
from commands.errors import Unauthenticated
from paygate.settings import Settings


class OneConnection:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def connection(self) -> Any:
        conn = self.conn

        class Borrowed:
            async def __aenter__(self) -> Any:
                return conn

            async def __aexit__(self, *exc: object) -> None:
                return None

        return Borrowed()


def pair(key: str, secret: str) -> tuple[str, str] | None:
    return credentials(Headers({"x-api-key": key, "x-api-secret": secret}))


async def test_the_key_cache_stays_bounded_under_a_flood_of_unknown_keys(store: str) -> None:
    async with app_connection(store) as conn:
        await seed_test_merchant(OneConnection(conn), Settings(_env_file=None))  # type: ignore[call-arg]
        auth = Authenticator(max_keys=8)
        for i in range(50):
            with pytest.raises(Unauthenticated):
                await auth.merchant(conn, pair(f"key_unknown_{i}", "secret"))
            assert len(auth) <= 8
        merchant = await auth.merchant(conn, pair("key_test_abc123", "secret_test_xyz789"))
        assert merchant.id == TEST_MERCHANT_ID
        with pytest.raises(Unauthenticated):
            await auth.merchant(conn, pair("key_test_abc123", "secret_test_xyz78"))
