"""Replay the whole log into fresh tables and compare them with the live read models (the auditor's check)."""

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from projections import folding
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


@dataclass(frozen=True)
class Replayed:
    events: int
    #: (position, projection, error) of each event a projection could not handle: set aside, as live
    #: quarantines it (projections/quarantine.py), so the replay still finishes and the diff shows the rest.
    skipped: list[tuple[int, str, str]]


async def _count(conn: psycopg.AsyncConnection[Any], query: sql.Composed) -> int:
    cur = await conn.execute(query)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _primary_keys(conn: psycopg.AsyncConnection[Any]) -> dict[str, list[str]]:
    """Each live read table's primary key columns, in key order."""
    cur = await conn.execute(
        """SELECT c.relname, array_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum))
           FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
           WHERE i.indisprimary AND n.nspname = 'public' AND c.relname = ANY(%s)
           GROUP BY c.relname""",
        (list(TABLES),),
    )
    return {r[0]: list(r[1]) for r in await cur.fetchall()}


async def replay(
    conn: psycopg.AsyncConnection[Any],
    progress: Callable[[int, int], None] | None = None,
    *,
    url: str | None = None,
    parts: int = 1,
) -> Replayed:
    """Build every read table afresh in schema ``rebuild`` from the log.

    Every projection of the registry replays through its own ``changes``, the rules its live ``apply`` runs,
    so replay and live cannot drift. They are folded in memory and each table is then written with COPY,
    which is what makes it fast. With ``parts`` > 1 the log is cut by stream and the other parts are folded
    in processes of their own (connecting to ``url``), all in one snapshot (projections/folding.py).
    ``progress(done, total)`` is called every few thousand events. ``conn`` must be in autocommit mode (the
    scratch tables are committed before the parts write into them), as a role that may create schemas.
    """
    if parts > 1 and url is None:
        raise ValueError("a replay in parts needs the database URL for the other processes")
    with folding.no_collector(), contextlib.ExitStack() as stack:
        # The other parts' processes start now, and import while the scratch tables are made.
        others = [await folding.Part.start() for _ in range(parts - 1)]
        for other in others:
            stack.callback(other.stop)
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        # Unlogged: a scratch copy needs no WAL. Without indexes while it is written (one build at the end is
        # cheaper than keeping them up row by row); the primary keys come after, still refusing a doubled row.
        for table in TABLES:
            await conn.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} (LIKE public.{} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
                    sql.Identifier(SCHEMA, table), sql.Identifier(table)
                )
            )
        primary_keys = await _primary_keys(conn)
        async with conn.transaction():
            # One snapshot for the whole replay: every event committed when it starts, none that commits after.
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = await (await conn.execute("SELECT count(*), pg_export_snapshot() FROM events")).fetchone()
            assert row is not None
            expected, snapshot = int(row[0]), row[1]
            job = {"url": url, "snapshot": snapshot, "parts": parts, "schema": SCHEMA}
            running = [asyncio.ensure_future(o.run(job | {"part": i})) for i, o in enumerate(others, start=1)]

            def report(n: int) -> None:
                if progress:
                    progress(n + sum(o.done for o in others), expected)

            tables, total = await folding.fold(conn, 0, parts, report)
            await folding.write_rows(conn, tables, SCHEMA)
            for n, tally_keys, tallied, skipped in await asyncio.gather(*running):
                total += n
                tables.add_tallies(tally_keys, tallied)
                tables.skipped += skipped
            for table in tables.tallies:
                await tables.copy_to(conn, SCHEMA, table)
        for table, columns in primary_keys.items():
            await conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    sql.Identifier(SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
            )
    if progress:
        progress(total, expected)
    return Replayed(total, sorted(tables.skipped))


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
