"""Reads of one read-table row by id, through ``ledger.statements`` (prepared once a connection, no cursor)."""

from typing import Any

import psycopg

from ledger import statements


async def by_id(
    conn: psycopg.AsyncConnection[Any], table: str, columns: str, row_id: str, merchant_id: str | None
) -> dict[str, Any] | None:
    """One row of ``table``; with ``merchant_id``, only if it belongs to that merchant."""
    if merchant_id is None:
        rows = await statements.fetch_dicts(conn, f"SELECT {columns} FROM {table} WHERE id = %s", (row_id,))
    else:
        query = f"SELECT {columns} FROM {table} WHERE id = %s AND merchant_id = %s"
        rows = await statements.fetch_dicts(conn, query, (row_id, merchant_id))
    return rows[0] if rows else None
