"""The `merchants` read table and the lookups the API makes on it."""

from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded, vault

NAME = "merchants"


async def apply(conn: psycopg.AsyncConnection[Any], event: Recorded) -> None:
    d = event.data
    if event.type in ("merchant.registered.v1", "merchant.registered.v2"):
        # Version 1 carried plain secrets: they are never copied here (SecretsSealed brings their sealed form).
        await conn.execute(
            """INSERT INTO merchants (id, name, email, api_key, api_secret_hash, api_secret_sealed,
                                      webhook_secret_sealed, created_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING""",
            (
                d["merchant_id"],
                d["name"],
                d["email"],
                d["api_key"],
                d.get("api_secret_hash"),
                d.get("api_secret_sealed"),
                d.get("webhook_secret_sealed"),
                d["registered_at"],
                d["registered_at"],
            ),
        )
    elif event.type == "merchant.webhook_configured.v1":
        await conn.execute(
            "UPDATE merchants SET webhook_url = %s, webhook_events = %s, updated_at = %s WHERE id = %s",
            (d["url"], list(d["events"]), d["configured_at"], d["merchant_id"]),
        )
    elif event.type == "merchant.webhook_secret_rotated.v2":
        await conn.execute(
            "UPDATE merchants SET webhook_secret_sealed = %s, updated_at = %s WHERE id = %s",
            (d["webhook_secret_sealed"], d["rotated_at"], d["merchant_id"]),
        )
    elif event.type == "merchant.api_key_rotated.v1":
        await conn.execute(
            """UPDATE merchants SET api_key = %s, api_secret_hash = %s, api_secret_sealed = %s,
                      previous_api_key = api_key, previous_secret_hash = api_secret_hash,
                      previous_key_expires_at = %s, updated_at = %s
               WHERE id = %s""",
            (
                d["api_key"],
                d["api_secret_hash"],
                d["api_secret_sealed"],
                d["previous_key_expires_at"],
                d["rotated_at"],
                d["merchant_id"],
            ),
        )
    elif event.type == "merchant.checkout_configured.v1":
        await conn.execute(
            "UPDATE merchants SET checkout_origins = %s, updated_at = %s WHERE id = %s",
            (list(d["allowed_origins"]), d["configured_at"], d["merchant_id"]),
        )
    elif event.type == "merchant.password_set.v1":
        await conn.execute(
            "UPDATE merchants SET password_hash = %s, updated_at = %s WHERE id = %s",
            (d["password_hash"], d["set_at"], d["merchant_id"]),
        )
    elif event.type == "merchant.secrets_sealed.v1":
        await conn.execute(
            """UPDATE merchants SET api_secret_hash = %s, api_secret_sealed = %s, webhook_secret_sealed = %s
               WHERE id = %s""",
            (d["api_secret_hash"], d["api_secret_sealed"], d["webhook_secret_sealed"], d["merchant_id"]),
        )


async def by_api_key(conn: psycopg.AsyncConnection[Any], api_key: str) -> dict[str, Any] | None:
    """The merchant holding this key, with ``secret_hash`` of that key and ``expires_at`` (None: current key)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT id::text AS id, name, email, api_key, is_active, api_secret_hash AS secret_hash,
                      NULL::timestamptz AS expires_at
               FROM merchants WHERE api_key = %s
               UNION ALL
               SELECT id::text, name, email, api_key, is_active, previous_secret_hash, previous_key_expires_at
               FROM merchants WHERE previous_api_key = %s
               LIMIT 1""",
            (api_key, api_key),
        )
        return await cur.fetchone()


async def api_secret(conn: psycopg.AsyncConnection[Any], merchant_id: str) -> str | None:
    """The merchant's current API secret in plain text (it signs checkout results); None once shredded."""
    cur = await conn.execute(
        """SELECT k.wrapped_key, m.api_secret_sealed FROM merchants m
           LEFT JOIN merchant_keys k ON k.merchant_id = m.id WHERE m.id = %s""",
        (merchant_id,),
    )
    row = await cur.fetchone()
    return None if row is None else vault.reveal(row[0], row[1], merchant_id)


async def sign_in_row(conn: psycopg.AsyncConnection[Any], email: str) -> dict[str, Any] | None:
    """What a dashboard sign-in checks: id, password hash (None: never set) and whether the merchant is active."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id::text AS id, password_hash, is_active FROM merchants WHERE lower(email) = lower(%s)", (email,)
        )
        return await cur.fetchone()


async def by_id(conn: psycopg.AsyncConnection[Any], merchant_id: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id::text AS id, name, email, api_key, is_active FROM merchants WHERE id = %s",
            (merchant_id,),
        )
        return await cur.fetchone()


async def webhook_config(conn: psycopg.AsyncConnection[Any], merchant_id: str) -> dict[str, Any] | None:
    """A merchant's webhook URL (None: no deliveries), subscribed events (empty: never set) and secret (plain
    text, decrypted; None once the merchant's data key was shredded)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT m.webhook_url, m.webhook_events, m.webhook_secret_sealed, k.wrapped_key FROM merchants m
               LEFT JOIN merchant_keys k ON k.merchant_id = m.id WHERE m.id = %s""",
            (merchant_id,),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    secret = vault.reveal(row.pop("wrapped_key"), row.pop("webhook_secret_sealed"), merchant_id)
    return row | {"webhook_secret": secret}


async def webhook_configs(
    conn: psycopg.AsyncConnection[Any], merchant_ids: list[str]
) -> dict[str, tuple[str, list[str]]]:
    """(URL, subscribed events) of each of these merchants that has a webhook URL."""
    cur = await conn.execute(
        """SELECT id::text, webhook_url, webhook_events FROM merchants
           WHERE id = ANY(%s::uuid[]) AND webhook_url IS NOT NULL AND is_active""",
        (merchant_ids,),
    )
    return {r[0]: (r[1], list(r[2])) for r in await cur.fetchall()}


async def checkout_origins(conn: psycopg.AsyncConnection[Any], merchant_id: str) -> list[str]:
    """The origins allowed to embed this merchant's checkout (empty: any)."""
    cur = await conn.execute("SELECT checkout_origins FROM merchants WHERE id = %s", (merchant_id,))
    row = await cur.fetchone()
    return [] if row is None else list(row[0])


async def checkout_origins_of_order(conn: psycopg.AsyncConnection[Any], order_id: str) -> list[str] | None:
    """The allowed checkout origins of the merchant owning this order; None when no active merchant owns it."""
    cur = await conn.execute(
        """SELECT m.checkout_origins FROM orders o JOIN merchants m ON m.id = o.merchant_id
           WHERE o.id = %s AND m.is_active""",
        (order_id,),
    )
    row = await cur.fetchone()
    return None if row is None else list(row[0])
