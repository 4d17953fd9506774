"""Replay the whole log into fresh tables and compare them with the live read models (the auditor's check)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

import ledger
from projections.registry import TABLES

SCHEMA = "rebuild"


@dataclass(frozen=True)
class TableReport:
    table: str
    live_rows: int
    rebuilt_rows: int
    only_live: int
    only_rebuilt: int

    @property
    def equal(self) -> bool:
        return self.only_live == 0 and self.only_rebuilt == 0


async def _count(conn: psycopg.AsyncConnection[Any], query: sql.Composed) -> int:
    cur = await conn.execute(query)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def replay(
    conn: psycopg.AsyncConnection[Any], batch: int = 5000, progress: Callable[[int, int], None] | None = None
) -> int:
    """Build every read table afresh in schema ``rebuild`` from the log; returns the events replayed.

    Every projection of the registry replays through its own live ``apply``, so replay and live cannot drift.
    The statements are pipelined (sent without waiting for each answer), which is what makes it fast.
    ``progress(done, total)`` is called after each batch. Needs a role that may create schemas (the owner).
    """
    models = {id(m): m for m in TABLES.values()}.values()
    async with conn.transaction():
        # One snapshot for the whole replay: every event committed when it starts, none that commits meanwhile.
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        # Unlogged: a scratch copy needs no WAL, and replaying it needs less of the server's time.
        for table in TABLES:
            await conn.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} (LIKE public.{} INCLUDING ALL)").format(
                    sql.Identifier(SCHEMA, table), sql.Identifier(table)
                )
            )
        # The projectors write unqualified table names: point them at the fresh copies.
        await conn.execute(sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(SCHEMA)))
        row = await (await conn.execute("SELECT count(*) FROM events")).fetchone()
        expected = int(row[0]) if row else 0
        cursor, total = ledger.Cursor(), 0
        while events := await ledger.read_visible(conn, cursor, batch):
            async with conn.pipeline():
                for event in events:
                    for model in models:
                        await model.apply(conn, event)
            cursor = ledger.Cursor(events[-1].tx_id, events[-1].position)
            total += len(events)
            if progress:
                progress(total, expected)
    return total


async def differences(conn: psycopg.AsyncConnection[Any], table: str, limit: int = 5) -> list[dict[str, Any]]:
    """Up to ``limit`` rows on each side that the other lacks, as {"side": "live" | "rebuilt", "row": {...}}."""
    live, rebuilt = sql.Identifier("public", table), sql.Identifier(SCHEMA, table)
    found = []
    for side, a, b in (("live", live, rebuilt), ("rebuilt", rebuilt, live)):
        cur = await conn.execute(
            sql.SQL("SELECT row_to_json(d)::text FROM (TABLE {} EXCEPT TABLE {}) d LIMIT {}").format(
                a, b, sql.Literal(limit)
            )
        )
        found += [{"side": side, "row": json.loads(r[0])} for r in await cur.fetchall()]
    return found


async def compare(conn: psycopg.AsyncConnection[Any]) -> list[TableReport]:
    """Row-by-row difference between each live table and its rebuilt copy."""
    reports = []
    for table in TABLES:
        live, rebuilt = sql.Identifier("public", table), sql.Identifier(SCHEMA, table)
        reports.append(
            TableReport(
                table=table,
                live_rows=await _count(conn, sql.SQL("SELECT count(*) FROM {}").format(live)),
                rebuilt_rows=await _count(conn, sql.SQL("SELECT count(*) FROM {}").format(rebuilt)),
                only_live=await _count(
                    conn, sql.SQL("SELECT count(*) FROM (TABLE {} EXCEPT TABLE {}) d").format(live, rebuilt)
                ),
                only_rebuilt=await _count(
                    conn, sql.SQL("SELECT count(*) FROM (TABLE {} EXCEPT TABLE {}) d").format(rebuilt, live)
                ),
            )
        )
    return reports
