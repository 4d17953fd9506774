"""A replay's work on one part of the log: its events folded in memory, then the rows it owns written out.

The log is cut by stream (a hash of the stream id), so each part sees every event of its streams, in commit
order. A row is written by the events of one stream only (orders, payments, refunds, deliveries, merchants, a
payment's ledger entries), so the parts' rows never meet; tallies (per merchant, day, account) are sums,
which the parts' partial sums add up to. ``Tables.written`` refuses a table that is both, and the scratch
tables' primary keys refuse two parts writing one row, so a broken assumption fails loudly, never quietly.
"""

import asyncio
import base64
import contextlib
import gc
import json
import pickle
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from psycopg import sql

import ledger
from projections import effects, quarantine
from projections.registry import ASYNC, INLINE

#: Progress is reported every this many events.
STEP = 10_000


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
    # Without metadata: no projection reads it (tests/unit/test_projection_types.py keeps it so).
    async for event in ledger.stream_visible(conn, part, parts, metadata=False):
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


class Part:
    """Another part, folded by ``python -m projections.folding`` in a process of its own.

    Started early, so its imports overlap the caller's set-up; ``run`` then hands it the job on its standard
    input (the database URL travels there, never in the arguments, where ``ps`` would show it). It reports
    ``progress N`` lines and ends with its result, pickled: its event count, tally tables and events set aside.
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.done = 0

    @classmethod
    async def start(cls) -> "Part":
        root = Path(__file__).resolve().parents[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "projections.folding",
            cwd=root,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def run(self, job: dict[str, Any]) -> tuple[int, Any, Any, Any]:
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self.proc.stdin.write(json.dumps(job).encode() + b"\n")
        await self.proc.stdin.drain()
        self.proc.stdin.close()
        errors = asyncio.ensure_future(self.proc.stderr.read())  # read alongside: a full pipe would block it
        result = None
        async for line in self.proc.stdout:
            word, _, rest = line.partition(b" ")
            if word == b"progress":
                self.done = int(rest)
            elif word == b"result":
                result = pickle.loads(base64.b64decode(rest))  # noqa: S301 -- our own child's output
        if await self.proc.wait() != 0 or result is None:
            said = (await errors).decode(errors="replace")[-2000:]
            raise RuntimeError(f"replay part {job['part']} failed: {said}")
        return result  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


async def _child() -> None:
    job = json.loads(sys.stdin.readline())

    def report(n: int) -> None:
        print(f"progress {n}", flush=True)

    async with await psycopg.AsyncConnection.connect(job["url"], autocommit=True) as conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        await conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(job["snapshot"]))
        tables, n = await fold(conn, job["part"], job["parts"], report)
        await write_rows(conn, tables, job["schema"])
    result = (n, *tables.tally_tables(), tables.skipped)
    print("result", base64.b64encode(pickle.dumps(result)).decode(), flush=True)


if __name__ == "__main__":
    with no_collector():
        asyncio.run(_child())
