"""Start-up checks of production mode (PAYGATE_ENV=production)."""

from typing import Any

import structlog

from api.auth import Authenticator
from commands.errors import Unauthenticated

log = structlog.get_logger(__name__)

#: The test merchant's credentials as published: anyone can send them.
PUBLISHED_CREDENTIALS = ("key_test_abc123", "secret_test_xyz789")


class UnsafeProduction(RuntimeError):
    """Production would start in a state anyone could abuse."""


async def refuse_published_credentials(pool: Any, settings: Any) -> None:
    """Refuse to start while the test merchant's well-known (or configured) credentials authenticate.

    Raises:
        UnsafeProduction: one of those pairs authenticates.
    """
    auth = Authenticator(ttl_s=0)
    pairs = {PUBLISHED_CREDENTIALS, (settings.test_api_key, settings.test_api_secret)}
    async with pool.connection() as conn:
        for key, secret in pairs:
            try:
                await auth.merchant(conn, (key, secret))
            except Unauthenticated:
                continue
            log.error("production.test_credentials_authenticate", api_key=key)
            raise UnsafeProduction(
                f"PAYGATE_ENV=production: the test merchant's credentials ({key}) still authenticate; "
                "rotate them (POST /api/v1/keys/rotate) and let the grace period pass, or use a fresh database"
            )
