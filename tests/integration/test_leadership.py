"""Followers survive database restarts, and never lead two at a time: on a PostgreSQL cluster of the test's own,
restarted with ``-m fast`` and ``-m immediate`` under two competing followers."""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from pgcluster import Cluster, cluster

import ledger
from paygate.database import apply_schema, make_pool
from paygate.settings import Settings
from projections import checkpoints

pytestmark = pytest.mark.slow
NAME = "test-leader"


@pytest.fixture(scope="module")
def pg() -> Iterator[Cluster]:
    with cluster() as c:
        yield c


@pytest.fixture(scope="module")
async def db(pg: Cluster) -> AsyncIterator[str]:
    url = pg.create_database("leaders")
    await apply_schema(url)
    yield url


def overlaps(spans: list[tuple[str, float, float]]) -> list[tuple[Any, Any]]:
    """Pairs of batches of different followers that ran at the same time."""
    ordered = sorted(spans, key=lambda s: s[1])
    return [(a, b) for a, b in itertools.pairwise(ordered) if a[0] != b[0] and b[1] < a[2]]


async def test_two_followers_never_lead_together_across_restarts(pg: Cluster, db: str) -> None:
    settings = Settings(database_url=db, _env_file=None)  # type: ignore[call-arg]
    spans: list[tuple[str, float, float]] = []
    epochs: dict[str, set[int]] = {"a": set(), "b": set()}
    stop = asyncio.Event()

    def follower(who: str, pool: Any) -> Any:
        async def claim(conn: psycopg.AsyncConnection[Any]) -> int:
            return await checkpoints.claim(conn, [NAME])

        async def batch(epoch: int) -> int:
            epochs[who].add(epoch)
            started = time.monotonic()
            try:
                async with pool.connection() as conn, conn.transaction():
                    cursor = await checkpoints.load(conn, NAME)
                    await asyncio.sleep(0.02)  # work in progress: the other follower gets every chance to run
                    row = await (await conn.execute("SELECT pg_current_xact_id()::text::bigint")).fetchone()
                    assert row is not None
                    last = ledger.Recorded(cursor.position + 1, row[0], None, "", 0, "", {}, {}, None)  # type: ignore[arg-type]
                    if not await checkpoints.advance(conn, NAME, cursor, last, epoch):
                        raise ledger.LostLeadership(NAME)
            finally:
                spans.append((who, started, time.monotonic()))
            return 1

        return ledger.follow(pool, NAME, stop, batch, poll_s=0.1, claim=claim, wake_on_events=False)

    async with (
        make_pool(settings, db, max_size=3, name="follower-a") as pa,
        make_pool(settings, db, max_size=3, name="follower-b") as pb,
    ):
        tasks = [asyncio.create_task(follower("a", pa)), asyncio.create_task(follower("b", pb))]

        async def batches_after(t: float, n: int = 5, timeout: float = 60) -> float:
            """Seconds until ``n`` batches completed after ``t``."""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if sum(1 for s in spans if s[1] > t) >= n:
                    return time.monotonic() - t
                await asyncio.sleep(0.05)
            raise AssertionError(f"no follower led again within {timeout}s")

        await batches_after(0)
        for mode in ("fast", "immediate", "fast"):
            await asyncio.to_thread(pg.restart, mode)
            recovered = await batches_after(time.monotonic())
            print(f"restart -m {mode}: a follower led again {recovered:.2f}s after the database was back")
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)

    assert not overlaps(spans), overlaps(spans)[:3]
    # Every takeover drew a new epoch, so the restarts made new leaders rather than resuming old ones.
    assert len(epochs["a"] | epochs["b"]) >= 4, epochs


async def test_a_stale_epoch_cannot_move_a_checkpoint(db: str) -> None:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        old = await checkpoints.claim(conn, ["fenced"])
        new = await checkpoints.claim(conn, ["fenced"])
        assert new == old + 1
        cursor = await checkpoints.load(conn, "fenced")
        last = ledger.Recorded(1, 1, None, "", 0, "", {}, {}, None)  # type: ignore[arg-type]
        async with conn.transaction():
            assert not await checkpoints.advance(conn, "fenced", cursor, last, old)
        async with conn.transaction():
            assert await checkpoints.advance(conn, "fenced", cursor, last, new)
