"""``paygate audit replay``: every projection rebuilt from the log in a scratch schema, diffed row by row.

The engine is projections/rebuild.py (each registered projection's own ``apply``); this adds the progress
bar on a terminal, the listing of differing rows and the exit code (0 equal, 1 different).
"""

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from projections import rebuild


@contextmanager
def _bar() -> Iterator[Callable[[int, int], None] | None]:
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    ) as bar:
        task = bar.add_task("replay", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


async def main(database_url: str, as_json: bool, parts: int = 1) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        started = time.perf_counter()
        with _bar() as progress:
            result = await rebuild.replay(conn, progress=progress, url=database_url, parts=parts)
        seconds = time.perf_counter() - started
        reports = await rebuild.compare(conn)
        diffs = {r.table: await rebuild.differences(conn, r.table) for r in reports if not r.equal}
    equal = all(r.equal for r in reports)
    replayed = result.events
    skipped = [{"position": p, "projection": m, "error": e} for p, m, e in result.skipped]
    if as_json:
        tables: list[dict[str, Any]] = [
            r.__dict__ | {"equal": r.equal, "differences": diffs.get(r.table, [])} for r in reports
        ]
        report = {"events": replayed, "seconds": round(seconds, 3), "equal": equal, "tables": tables}
        print(json.dumps(report | {"parts": parts, "skipped": skipped}))
        return 0 if equal else 1
    rate = replayed / seconds if seconds else 0
    print(f"replayed {replayed} events in {seconds:.2f} s ({rate:,.0f} events/s, {parts} parts)")
    for s in skipped:
        print(f"set aside: event {s['position']} in {s['projection']}: {s['error']} (live quarantines it too)")
    for r in reports:
        print(
            f"{r.table:<18} live {r.live_rows:>8}  rebuilt {r.rebuilt_rows:>8}  "
            f"{'equal' if r.equal else f'DIFFERENT ({r.only_live} only live, {r.only_rebuilt} only rebuilt)'}"
        )
        for d in diffs.get(r.table, []):
            print(f"    only {d['side']}: {json.dumps(d['row'], default=str)}")
    return 0 if equal else 1
