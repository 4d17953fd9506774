"""A replay's work on one part of the log: its events folded in memory, then the rows it owns written out.

The log is cut by stream (a hash of the stream id), so each part sees every event of its streams, in commit
order. A row is written by the events of one stream only (orders, payments, refunds, deliveries, merchants, a
payment's ledger entries), so the parts' rows never meet; tallies (per merchant, day, account) are sums,
which the parts' partial sums add up to. ``Tables.written`` refuses a table that is both, and the scratch
tables' primary keys refuse two parts writing one row, so a broken assumption fails loudly, never quietly.
"""

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import psycopg
from psycopg import sql

import ledger
from projections import effects, quarantine
from projections.registry import ASYNC, INLINE

#: Progress is reported every this many events.
STEP = 10_000
#: Events folded so far by each part (shared memory, one slot per part), for the progress bar.
_done: Any = None


@contextlib.contextmanager
def no_collector() -> Iterator[None]:
    """Python's cycle collector off: a replay builds hundreds of thousands of long-lived rows and no cycles,
    and the collector would walk all of them again and again (a third of the replay's time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


async def fold(
    conn: psycopg.AsyncConnection[Any], part: int, parts: int, report: Callable[[int], None]
) -> tuple[effects.Tables, int]:
    """Fold part ``part`` of ``parts`` of the log visible to ``conn``'s snapshot; returns the tables and the
    number of events. ``report(n)`` is called every ``STEP`` events and at the end."""
    models = INLINE + ASYNC
    tables = effects.Tables()
    readers: dict[str, list[ModuleType]] = {}  # by event type: the projections that read it
    n = 0
    async for event in ledger.stream_visible(conn, part, parts):
        if (todo := readers.get(event.type)) is None:
            todo = readers[event.type] = [m for m in models if event.type in m.TYPES]
        for model in todo:
            try:
                done = await model.changes(event, tables.read)
            except Exception as exc:  # the event live quarantines too: set aside and reported
                tables.skipped.append((event.position, model.NAME, quarantine.describe(exc)))
                continue
            if done:
                tables.apply(done)
        n += 1
        if n % STEP == 0:
            report(n)
    report(n)
    return tables, n


async def write_rows(conn: psycopg.AsyncConnection[Any], tables: effects.Tables, schema: str) -> None:
    """The rows this part owns, into ``schema``'s tables (the tallies are the caller's to add up)."""
    for table in tables.written():
        await tables.copy_to(conn, schema, table)


def share(done: Any) -> None:
    """Initializer of a part's process: where it reports progress."""
    global _done
    _done = done


def ready() -> None:
    """Nothing: submitted first, so a part's process is started and has imported this before it is needed."""


def _report(part: int) -> Callable[[int], None]:
    def report(n: int) -> None:
        if _done is not None:
            _done[part] = n

    return report


def part_main(url: str, snapshot: str, part: int, parts: int, schema: str) -> tuple[int, Any, Any, Any]:
    """A part in a process of its own: reads in the exported ``snapshot``, writes its rows and commits; returns
    its event count, its tally tables and the events it set aside."""

    async def run() -> tuple[int, Any, Any, Any]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            await conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(snapshot))
            tables, n = await fold(conn, part, parts, _report(part))
            await write_rows(conn, tables, schema)
            return n, *tables.tally_tables(), tables.skipped

    with no_collector():
        return asyncio.run(run())
