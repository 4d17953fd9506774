"""Seal the plain secrets an older log holds, once, at start-up.

Before secrets were protected, ``merchant.registered.v1`` and ``merchant.webhook_secret_rotated.v1`` carried
them in plain text, and so did the ``merchants`` table. Their upcasters now read those events without the
secrets; this step records each affected merchant's current secrets in protected form (a
``merchant.secrets_sealed.v1`` event under a new data key), so they keep working, and clears the table's old
plain columns (schema.sql drops them once empty). The events table is append-only: see the README for what an
operator does about the plain text still inside those old rows.
"""

from typing import Any

from api.ids import now, stamp
from commands import Session, merchant
from commands.handler import handle
from ledger import vault
from projections import project_inline

#: Serialises the migration across API processes starting together.
_LOCK = 7_400_107


async def seal_legacy_secrets(pool: Any) -> int:
    """Seal every merchant whose secrets are known only from plain-text events; how many were sealed."""
    async with pool.connection() as conn, conn.transaction():
        # Only a merchant registered in plain text lacks a hash: without one there is nothing to scan the log for.
        cur = await conn.execute("SELECT 1 FROM merchants WHERE api_secret_hash IS NULL LIMIT 1")
        if await cur.fetchone() is None:
            return 0
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        cur = await conn.execute(
            """SELECT e.stream_id, e.type, e.data->>'api_secret', e.data->>'webhook_secret', e.data->>'merchant_id'
               FROM events e
               WHERE e.type IN ('merchant.registered.v1', 'merchant.webhook_secret_rotated.v1')
                 AND NOT EXISTS (SELECT 1 FROM events s
                                 WHERE s.stream_id = e.stream_id AND s.type = 'merchant.secrets_sealed.v1')
               ORDER BY e.position"""
        )
        plain: dict[str, dict[str, Any]] = {}
        for _stream, type_, api_secret, webhook_secret, merchant_id in await cur.fetchall():
            found = plain.setdefault(merchant_id, {})
            if type_ == "merchant.registered.v1":
                found["api_secret"] = api_secret
            found["webhook_secret"] = webhook_secret  # the latest rotation wins
        session = Session(conn, project_inline, {"actor": "migration"})
        for merchant_id, found in plain.items():
            if "api_secret" not in found:
                continue  # a rotation without a registration: nothing to authenticate with
            key = await vault.data_key(conn, merchant_id, create=True)
            assert key is not None
            command = merchant.SealLegacySecrets(
                merchant_id=merchant_id,
                api_secret_hash=vault.current().lookup_hash(found["api_secret"]),
                api_secret_sealed=vault.seal(key, found["api_secret"], merchant_id),
                webhook_secret_sealed=vault.seal(key, found["webhook_secret"], merchant_id),
                occurred_at=stamp(now()),
            )
            await handle(session, merchant, merchant.stream_id(merchant_id), command)
        legacy = await conn.execute(
            """SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'merchants' AND column_name = 'api_secret'"""
        )
        if await legacy.fetchone():
            await conn.execute("UPDATE merchants SET api_secret = NULL, webhook_secret = NULL")
        return len(plain)
