"""Benchmark of what the hash chain costs appends: ledger.append throughput alone, with the chainer running
beside the writers (in a process of its own, as the projector runs it), and with a reader that tails the log
and encodes each event as the chainer does but writes nothing (the control: what any follower of the log
costs), and how far the chain trails at the end. Not a test: it asserts nothing.

    python bench/chain.py [--seconds 8] [--writers 8]
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psutil  # noqa: E402
import psycopg  # noqa: E402
from core import fresh_database, ledger_append, log, throughput  # noqa: E402

from ledger import chain  # noqa: E402

#: The chainer as production runs it: in a process of its own (the projector's), never in the writers' process,
#: where it would compete with them for one interpreter. BENCH_READ_ONLY: the control, a reader that tails the
#: log and encodes each event as the chainer does, but writes nothing.
CHAINER = """
import asyncio, os, signal
from ledger import chain, pause
from ledger.store import Cursor, read_all_text
from paygate.database import make_pool
from paygate.settings import Settings

async def read_only(pool, stop):
    cursor = Cursor()
    while not stop.is_set():
        async with pool.connection() as conn:
            events = await read_all_text(conn, cursor, chain.BATCH)
        for event in events:
            chain.encode(event)
        if events:
            cursor = Cursor(events[-1][1], events[-1][0])
        if len(events) < chain.BATCH:
            await pause(stop, 0.05)

async def main(url):
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    settings = Settings(database_url=url, _env_file=None)
    async with make_pool(settings, url, max_size=3, name="bench-chainer") as pool:
        if os.environ.get("BENCH_READ_ONLY"):
            await read_only(pool, stop)
        else:
            await chain.run(pool, stop, poll_s=0.2)

asyncio.run(main(os.environ["BENCH_DATABASE_URL"]))
"""


async def with_chainer(
    url: str, writers: int, seconds: float, tag: str, read_only: bool
) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "BENCH_DATABASE_URL": url} | ({"BENCH_READ_ONLY": "1"} if read_only else {})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CHAINER, cwd=ROOT, env=env)
    try:
        rate = await throughput(url, ledger_append(False, tag), writers, seconds)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            lag = await chain.lag(conn)
        used = psutil.Process(proc.pid).cpu_times()
        who = "reader" if read_only else "chainer"
        log(f"{who} process: {used.user + used.system:.2f} s of CPU, its start included")
    finally:
        proc.terminate()
        await proc.wait()
    return rate, lag


async def main_async(url: str, writers: int, seconds: float) -> None:
    for run in range(2):
        plain = await throughput(url, ledger_append(False, f"plain{run}"), writers, seconds)
        chained, lag = await with_chainer(url, writers, seconds, f"chained{run}", read_only=False)
        reader, _ = await with_chainer(url, writers, seconds, f"read{run}", read_only=True)
        log(
            f"run {run + 1}: {writers} writers, append {plain:,.0f}/s alone, {chained:,.0f}/s with the chainer"
            f" ({(chained / plain - 1) * 100:+.1f}%), {reader:,.0f}/s with a reader that only reads and encodes"
            f" ({(reader / plain - 1) * 100:+.1f}%); chain lag at the end {lag['lag_events']:,.0f} events"
            f" / {lag['lag_seconds']:.2f} s"
        )
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started, n = time.perf_counter(), 0
        while done := await chain.chain_batch(conn):
            n += done
        if n:
            log(f"catching up the rest: {n:,} events at {n / (time.perf_counter() - started):,.0f}/s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--writers", type=int, default=8)
    args = p.parse_args()
    log(f"load average before: {os.getloadavg()[0]:.2f}")
    with fresh_database(args.pg, "chain") as db:
        asyncio.run(main_async(db, args.writers, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
