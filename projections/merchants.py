"""The `merchants` read table and the lookups the API makes on it."""

from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded

NAME = "merchants"


async def apply(conn: psycopg.AsyncConnection[Any], event: Recorded) -> None:
    d = event.data
    if event.type == "merchant.registered.v1":
        await conn.execute(
            """INSERT INTO merchants (id, name, email, api_key, api_secret, webhook_secret, created_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING""",
            (
                d["merchant_id"],
                d["name"],
                d["email"],
                d["api_key"],
                d["api_secret"],
                d["webhook_secret"],
                d["registered_at"],
                d["registered_at"],
            ),
        )
    elif event.type == "merchant.webhook_configured.v1":
        await conn.execute(
            "UPDATE merchants SET webhook_url = %s, webhook_events = %s, updated_at = %s WHERE id = %s",
            (d["url"], list(d["events"]), d["configured_at"], d["merchant_id"]),
        )
    elif event.type == "merchant.webhook_secret_rotated.v1":
        await conn.execute(
            "UPDATE merchants SET webhook_secret = %s, updated_at = %s WHERE id = %s",
            (d["webhook_secret"], d["rotated_at"], d["merchant_id"]),
        )


async def by_api_key(conn: psycopg.AsyncConnection[Any], api_key: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id::text AS id, name, email, api_key, api_secret, is_active FROM merchants WHERE api_key = %s",
            (api_key,),
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
    """A merchant's webhook URL (None: no deliveries), subscribed events (empty: never set) and secret."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT webhook_url, webhook_events, webhook_secret FROM merchants WHERE id = %s", (merchant_id,)
        )
        return await cur.fetchone()


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
