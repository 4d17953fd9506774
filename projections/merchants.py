"""The `merchants` read table and the lookups the API makes on it."""

from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded, arrays, vault
from projections import effects

NAME = "merchants"
#: The event types this projection reads (a replay hands it no others).
TYPES = frozenset(
    {
        "merchant.api_key_rotated.v1",
        "merchant.checkout_configured.v1",
        "merchant.password_set.v1",
        "merchant.registered.v1",
        "merchant.registered.v2",
        "merchant.secrets_sealed.v1",
        "merchant.webhook_configured.v1",
        "merchant.webhook_secret_rotated.v2",
    }
)


async def changes(event: Recorded, read: effects.Read) -> list[effects.Effect]:
    d = event.data
    key = {"id": d.get("merchant_id")}
    values: dict[str, Any]
    match event.type:
        case "merchant.registered.v1" | "merchant.registered.v2":
            # Version 1 carried plain secrets: they are never copied here (SecretsSealed brings their sealed form).
            row = {
                "id": d["merchant_id"],
                "name": d["name"],
                "email": d["email"],
                "api_key": d["api_key"],
                "api_secret_hash": d.get("api_secret_hash"),
                "api_secret_sealed": d.get("api_secret_sealed"),
                "webhook_secret_sealed": d.get("webhook_secret_sealed"),
                "created_at": d["registered_at"],
                "updated_at": d["registered_at"],
            }
            return [effects.Insert("merchants", row)]
        case "merchant.webhook_configured.v1":
            values = {"webhook_url": d["url"], "webhook_events": list(d["events"]), "updated_at": d["configured_at"]}
        case "merchant.webhook_secret_rotated.v2":
            values = {"webhook_secret_sealed": d["webhook_secret_sealed"], "updated_at": d["rotated_at"]}
        case "merchant.api_key_rotated.v1":
            values = {
                "api_key": d["api_key"],
                "api_secret_hash": d["api_secret_hash"],
                "api_secret_sealed": d["api_secret_sealed"],
                "previous_api_key": effects.Col("api_key"),
                "previous_secret_hash": effects.Col("api_secret_hash"),
                "previous_key_expires_at": d["previous_key_expires_at"],
                "updated_at": d["rotated_at"],
            }
        case "merchant.checkout_configured.v1":
            values = {"checkout_origins": list(d["allowed_origins"]), "updated_at": d["configured_at"]}
        case "merchant.password_set.v1":
            values = {"password_hash": d["password_hash"], "updated_at": d["set_at"]}
        case "merchant.secrets_sealed.v1":
            values = {
                "api_secret_hash": d["api_secret_hash"],
                "api_secret_sealed": d["api_secret_sealed"],
                "webhook_secret_sealed": d["webhook_secret_sealed"],
            }
        case _:
            return []
    return [effects.Update("merchants", key, values)]


apply = effects.applier(changes, TYPES)


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
        (arrays.encode("uuid", merchant_ids),),
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
