"""A follower woken for an event it cannot read yet (an older transaction is still open, so ``read_all`` holds
the event back) looks again shortly, instead of waiting out its poll, when that transaction ends without a
wake-up of its own. Real PostgreSQL, a real NOTIFY."""

import asyncio
import contextlib
from typing import Any

from storekit import app_connection, new_event, new_stream, owner_connection

import ledger
from ledger.wakeups import CHANNEL
from paygate.database import make_pool
from paygate.settings import Settings

#: Longer than the test waits: an event seen at all was seen by a short look, not by the poll.
POLL_S = 120.0


class Reader:
    """A follower's batch: reads the log from where it stands, keeps the events of stream ``sid``."""

    def __init__(self, pool: Any, sid: str) -> None:
        self.pool, self.sid = pool, sid
        self.cursor = ledger.Cursor()
        self.seen: list[ledger.Recorded] = []
        self.batches = 0

    async def batch(self, _epoch: int) -> int:
        self.batches += 1
        async with self.pool.connection() as c:
            events = await ledger.read_all(c, self.cursor, 1000)
        if events:
            self.cursor = ledger.Cursor(events[-1].tx_id, events[-1].position)
        self.seen.extend(e for e in events if e.stream_id == self.sid)
        return len(events)


async def test_an_event_held_back_by_an_older_transaction_is_read_soon_after_it_ends(store: str) -> None:
    settings = Settings(database_url=store, _env_file=None)  # type: ignore[call-arg]
    sid = new_stream()

    async with make_pool(settings, store, max_size=3) as pool, owner_connection(store) as older:
        await warm_up(store, sid)

        reader = Reader(pool, sid)
        stop = asyncio.Event()
        follower = asyncio.create_task(ledger.follow(pool, "held-back-test", stop, reader.batch, poll_s=POLL_S))
        try:
            # Let the follower drain what is there and settle into its wait.
            await asyncio.wait_for(_until(lambda: bool(reader.cursor.tx_id)), 30)
            await older.execute("BEGIN")
            await older.execute("SELECT pg_current_xact_id()")  # an xid older than the append's
            async with app_connection(store) as conn:
                async with conn.transaction():
                    await ledger.append(conn, sid, [new_event(1)], expected_version=0)
                before = reader.batches
                await conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
            # Woken, it reads while the older transaction still hides the event...
            await asyncio.wait_for(_until(lambda: reader.batches > before), 30)
            assert not reader.seen
            await older.execute("COMMIT")  # ...which then ends without a wake-up
            await asyncio.wait_for(_until(lambda: bool(reader.seen)), 30)
        finally:
            stop.set()
            follower.cancel()  # it may be in a wait of POLL_S for a notification, which a stop does not cut short
            with contextlib.suppress(asyncio.CancelledError):
                await follower
    assert [e.stream_id for e in reader.seen] == [sid]


async def test_a_lone_event_after_a_small_batch_is_read_at_once_not_after_the_gather(store: str) -> None:
    """The gather after a batch that was not full scales with what the batch held (``GATHER_PER_EVENT_S`` an
    event): with a cap of a minute, an event right after a batch of one is still read within seconds."""
    settings = Settings(database_url=store, _env_file=None)  # type: ignore[call-arg]
    sid = new_stream()

    async with make_pool(settings, store, max_size=3) as pool:
        await warm_up(store, sid)

        reader = Reader(pool, sid)

        async def append(version: int) -> None:
            async with app_connection(store) as conn:
                async with conn.transaction():
                    await ledger.append(conn, sid, [new_event(version)], expected_version=version)
                await conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))

        stop = asyncio.Event()
        follow = ledger.follow(pool, "gather-test", stop, reader.batch, poll_s=POLL_S, fill=(1000, POLL_S / 2))
        follower = asyncio.create_task(follow)
        try:
            await asyncio.wait_for(_until(lambda: bool(reader.cursor.tx_id)), 30)
            await append(0)
            await asyncio.wait_for(_until(lambda: len(reader.seen) == 1), 30)
            await append(1)  # while the follower gathers after its batch of one
            await asyncio.wait_for(_until(lambda: len(reader.seen) == 2), 10)
        finally:
            stop.set()
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
    assert [e.stream_version for e in reader.seen] == [1, 2]


async def warm_up(store: str, sid: str) -> None:
    """An event for the follower to drain first, readable once this returns. A transaction elsewhere on the server
    that began before its commit (another test's) hides it from ``read_all`` until that one ends, and a follower
    that found nothing and got no wake-up would then wait out its poll."""
    async with app_connection(store) as conn:
        async with conn.transaction():
            [event] = await ledger.append(conn, "warm-up-" + sid, [new_event(0)], expected_version=0)
        readable = "SELECT pg_snapshot_xmin(pg_current_snapshot()) > %s::text::xid8"
        while not (await (await conn.execute(readable, (str(event.tx_id),))).fetchone() or (False,))[0]:
            await asyncio.sleep(0.01)


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.01)


async def test_a_wakeup_returns_on_a_notify_on_its_timeout_and_for_one_received_meanwhile(store: str) -> None:
    """``Wakeup.wait`` waits on the socket itself (psycopg's wait looks up every 0.1 s): a NOTIFY ends the wait
    long before its timeout, none lets it run out, and one that arrived during another statement on the
    connection is found at once."""
    async with app_connection(store) as listener, app_connection(store) as other:
        wakeup = await ledger.Wakeup.listen(listener)
        loop = asyncio.get_running_loop()

        started = loop.time()
        assert not await wakeup.wait(0.3)
        assert loop.time() - started >= 0.29

        waiting = asyncio.create_task(wakeup.wait(60))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        started = loop.time()
        await other.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        assert await asyncio.wait_for(waiting, 30)
        assert loop.time() - started < 30

        # A session's own notification comes back to it as its statement ends: psycopg keeps it for notifies().
        await listener.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        started = loop.time()
        assert await wakeup.wait(60)
        assert loop.time() - started < 30
        assert not await wakeup.wait(0.05)  # each notification counts once
