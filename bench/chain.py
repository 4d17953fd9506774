"""Benchmark of what the hash chain costs appends: ledger.append throughput without and with the chainer
running beside the writers, and how far the chain trails at the end. Not a test: it asserts nothing.

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

import psycopg  # noqa: E402
from core import fresh_database, ledger_append, log, throughput  # noqa: E402

from ledger import chain  # noqa: E402
from paygate.database import make_pool  # noqa: E402
from paygate.settings import Settings  # noqa: E402


async def with_chainer(url: str, writers: int, seconds: float, tag: str) -> tuple[float, dict[str, float]]:
    stop = asyncio.Event()
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    async with make_pool(settings, url, max_size=3, name="bench-chainer") as pool:
        task = asyncio.create_task(chain.run(pool, stop, poll_s=0.2))
        rate = await throughput(url, ledger_append(False, tag), writers, seconds)
        async with pool.connection() as conn:
            lag = await chain.lag(conn)
        stop.set()
        await task
    return rate, lag


async def main_async(url: str, writers: int, seconds: float) -> None:
    for run in range(2):
        plain = await throughput(url, ledger_append(False, f"plain{run}"), writers, seconds)
        chained, lag = await with_chainer(url, writers, seconds, f"chained{run}")
        log(
            f"run {run + 1}: {writers} writers, append {plain:,.0f}/s without the chainer, {chained:,.0f}/s with it"
            f" ({(chained / plain - 1) * 100:+.1f}%); chain lag at the end {lag['lag_events']:,.0f} events"
            f" / {lag['lag_seconds']:.2f} s, head {lag['head']:,.0f}"
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
