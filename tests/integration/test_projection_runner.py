"""The projection runner applies each event exactly once in effect, however many runners compete."""

import asyncio
import time
import types
from typing import Any

import psycopg
import pytest
from storekit import app_connection, append, new_event, new_stream

import ledger
from paygate.database import make_pool
from paygate.settings import Settings
from projections import checkpoints, runner


def tally_model(name: str) -> Any:
    """A read model whose apply is deliberately not idempotent: it adds a row per application."""

    async def apply(conn: Any, event: ledger.Recorded) -> None:
        await conn.execute("INSERT INTO tally (model, event_id) VALUES (%s, %s)", (name, event.event_id))

    return types.SimpleNamespace(NAME=name, apply=apply)


@pytest.fixture(scope="module", autouse=True)
async def tally_table(store: str) -> None:
    from storekit import owner_connection

    async with owner_connection(store) as owner:
        await owner.execute("CREATE TABLE tally (model text NOT NULL, event_id uuid NOT NULL)")
        await owner.execute("GRANT SELECT, INSERT ON tally TO paygate_app")


async def applied(conn: Any, model: str) -> tuple[int, int]:
    """(rows, distinct events) the model has applied."""
    cur = await conn.execute("SELECT count(*), count(DISTINCT event_id) FROM tally WHERE model = %s", (model,))
    row = await cur.fetchone()
    assert row is not None
    return row[0], row[1]


async def write(store: str, streams: int, per_stream: int) -> list[ledger.Recorded]:
    """Append while the runners run, in many small transactions."""
    written: list[ledger.Recorded] = []
    async with app_connection(store) as conn:
        for _ in range(streams):
            sid = new_stream()
            for v in range(per_stream):
                written += await append(conn, sid, [new_event(v)], v)
                await asyncio.sleep(0)
    return written


async def tail(conn: Any) -> tuple[int, int]:
    """The last event of the log in commit order, read without the reader's gate (every writer has finished)."""
    cur = await conn.execute("SELECT tx_id::text::bigint, position FROM events ORDER BY tx_id DESC, position DESC")
    row = await cur.fetchone()
    assert row is not None
    return row[0], row[1]


async def test_two_runners_catching_up_at_once_apply_every_event_exactly_once(store: str) -> None:
    model = tally_model("race")
    writer = asyncio.create_task(write(store, streams=40, per_stream=5))

    async def run_until_caught_up() -> int:
        batches = 0
        async with app_connection(store) as conn:
            while True:
                n = await runner.catch_up(conn, model, batch=7)
                batches += n > 0
                if n == 0 and writer.done():
                    at = await checkpoints.load(conn, model.NAME)
                    if (at.tx_id, at.position) == await tail(conn):
                        return batches
                await asyncio.sleep(0 if n else 0.01)

    done = await asyncio.wait_for(asyncio.gather(run_until_caught_up(), run_until_caught_up()), 60)
    await writer
    async with app_connection(store) as conn:
        rows, distinct = await applied(conn, model.NAME)
        cur = await conn.execute("SELECT count(*) FROM events")
        total = await cur.fetchone()
        cur = await conn.execute("SELECT count(*) FROM tally t JOIN events e USING (event_id) WHERE t.model = 'race'")
        matched = await cur.fetchone()
    assert total is not None and total[0] >= 200
    assert (rows, distinct) == (total[0], total[0])
    assert matched == total
    assert sum(done) >= 1


async def test_two_runner_loops_on_one_model_apply_every_event_exactly_once(store: str) -> None:
    model = tally_model("leader")
    settings = Settings(database_url=store, _env_file=None)  # type: ignore[call-arg]
    stop = asyncio.Event()
    async with make_pool(settings, store, max_size=3) as p1, make_pool(settings, store, max_size=3) as p2:
        loops = [asyncio.create_task(runner.run(p, [model], stop, poll_s=0.2)) for p in (p1, p2)]
        written = await write(store, streams=10, per_stream=3)
        async with app_connection(store) as conn:
            cur = await conn.execute("SELECT count(*) FROM events")
            total = await cur.fetchone()
            assert total is not None
            deadline = time.monotonic() + 30
            while await applied(conn, model.NAME) != (total[0], total[0]):
                assert time.monotonic() < deadline, await applied(conn, model.NAME)
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*loops), 30)
            assert await applied(conn, model.NAME) == (total[0], total[0])
            cur = await conn.execute("SELECT event_id FROM tally WHERE model = %s", (model.NAME,))
            everything = {r[0] for r in await cur.fetchall()}
    assert {r.event_id for r in written} <= everything


async def test_models_at_different_checkpoints_share_one_read_and_each_applies_its_own_events(store: str) -> None:
    """The runner reads the log once for all its models, from the one furthest behind; a model ahead takes only
    the events after its own checkpoint."""
    behind, ahead = tally_model("behind"), tally_model("ahead")
    await write(store, streams=4, per_stream=3)
    async with app_connection(store) as conn:
        while await runner.catch_up(conn, ahead):
            pass
        head = await checkpoints.load(conn, ahead.NAME)
        later = await write(store, streams=2, per_stream=2)
        while await runner.catch_up_all(conn, [behind, ahead], batch=5):
            pass
        cur = await conn.execute("SELECT count(*) FROM events")
        total = (await cur.fetchone())[0]  # type: ignore[index]
        assert await applied(conn, behind.NAME) == (total, total)
        assert await applied(conn, ahead.NAME) == (total, total)
        cur = await conn.execute("SELECT event_id FROM tally WHERE model = 'ahead' ORDER BY event_id")
        assert {r.event_id for r in later} <= {r[0] for r in await cur.fetchall()}
        assert await checkpoints.load(conn, behind.NAME) == await checkpoints.load(conn, ahead.NAME) != head


async def test_checkpoints_move_all_together_or_the_batch_rolls_back(store: str) -> None:
    """A batch moves its models' checkpoints in one statement, each by compare-and-set: when another runner
    moved one of them first, the statement says so and the batch's transaction is rolled back, so no checkpoint
    moves."""
    first, second = tally_model("together-first"), tally_model("together-second")
    await write(store, streams=2, per_stream=2)
    start = ledger.Cursor(0, 0)
    async with app_connection(store) as conn, app_connection(store) as other:
        assert await checkpoints.load_all(conn, [first.NAME, second.NAME]) == [start, start]
        events = await ledger.read_all(conn, start, 100)
        while await runner.catch_up(other, second):  # the other runner moves one of them meanwhile
            pass
        moved = await checkpoints.load(conn, second.NAME)
        assert moved != start
        async with conn.transaction():
            assert not await checkpoints.advance_all(
                conn, [(first.NAME, start, events[-1]), (second.NAME, start, events[-1])]
            )
            raise psycopg.Rollback()
        assert await checkpoints.load_all(conn, [first.NAME, second.NAME]) == [start, moved]
        async with conn.transaction():
            assert await checkpoints.advance_all(
                conn, [(first.NAME, start, events[-1]), (second.NAME, moved, events[-1])]
            )
        last = ledger.Cursor(events[-1].tx_id, events[-1].position)
        assert await checkpoints.load_all(conn, [first.NAME, second.NAME]) == [last, last]


async def test_an_event_one_model_cannot_apply_is_quarantined_for_it_alone(store: str) -> None:
    """The models of a batch are applied together in one savepoint; when one fails there, each model's events
    are applied again on their own, so the others lose nothing and apply nothing twice."""
    before, after = tally_model("poison-before"), tally_model("poison-after")
    poison = new_event(7)

    async def picky_apply(conn: Any, event: ledger.Recorded) -> None:
        if event.event_id == poison.event_id:
            raise ValueError("cannot apply this one")
        await conn.execute("INSERT INTO tally (model, event_id) VALUES ('poison-picky', %s)", (event.event_id,))

    picky = types.SimpleNamespace(NAME="poison-picky", apply=picky_apply)
    await write(store, streams=2, per_stream=2)
    async with app_connection(store) as conn:
        await append(conn, new_stream(), [new_event(6), poison, new_event(8)], 0)
        await write(store, streams=1, per_stream=2)
        while await runner.catch_up_all(conn, [before, picky, after], batch=4):
            pass
        total = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]  # type: ignore[index]
        assert await applied(conn, before.NAME) == (total, total)
        assert await applied(conn, after.NAME) == (total, total)
        assert await applied(conn, picky.NAME) == (total - 1, total - 1)
        cur = await conn.execute(
            "SELECT follower, event_id, error FROM quarantined_events WHERE event_id = %s", (poison.event_id,)
        )
        assert await cur.fetchall() == [("poison-picky", poison.event_id, "ValueError: cannot apply this one")]
