"""The event store's contract, against real PostgreSQL: versions, races, commit order, immutability, wake-ups."""

import asyncio
import json
import time
import uuid
from typing import Any

import psycopg
import pytest
from storekit import app_connection, append, drain, new_event, new_stream

import ledger


async def identity_last_value(owner: psycopg.AsyncConnection[Any]) -> tuple[int | None, int | None]:
    """(last value drawn from the position identity, max(position)): both move only when a position is drawn."""
    cur = await owner.execute(
        """SELECT pg_sequence_last_value(pg_get_serial_sequence('events', 'position')::regclass), max(position)
           FROM events"""
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0], row[1]


class TestAppendAndRead:
    async def test_appended_events_are_read_back_in_stream_order_with_their_versions(self, app_conn: Any) -> None:
        sid = new_stream()
        first = await append(app_conn, sid, [new_event(1), new_event(2), new_event(3)], 0)
        more = await append(app_conn, sid, [new_event(4)], 3)
        stored = await ledger.read_stream(app_conn, sid)
        assert [r.stream_version for r in stored] == [1, 2, 3, 4]
        assert [r.data["n"] for r in stored] == [1, 2, 3, 4]
        assert stored == [*first, *more]
        assert ledger.version_of(stored) == 4
        assert [r.position for r in stored] == sorted(r.position for r in stored)

    async def test_several_streams_are_read_at_once_whatever_their_ids_spelling(self, app_conn: Any) -> None:
        """Plain ASCII ids go as a binary array, others as psycopg's own list: both find the same rows."""
        plain, accented, never = new_stream(), f"{new_stream()}-é", new_stream()
        first = await append(app_conn, plain, [new_event(1), new_event(2)], 0)
        second = await append(app_conn, accented, [new_event(3)], 0)
        for ids in ([plain, never], [plain, accented, never]):
            found = await ledger.read_streams(app_conn, ids)
            assert found == {plain: first, never: []} | ({accented: second} if accented in ids else {})

    async def test_a_stream_that_was_never_written_is_empty_at_version_0(self, app_conn: Any) -> None:
        stored = await ledger.read_stream(app_conn, new_stream())
        assert stored == [] and ledger.version_of(stored) == 0

    async def test_appending_nothing_writes_nothing(self, app_conn: Any, owner: Any) -> None:
        before = await identity_last_value(owner)
        sid = new_stream()
        assert await append(app_conn, sid, [], 0) == []
        assert await identity_last_value(owner) == before
        cur = await app_conn.execute("SELECT count(*) FROM streams WHERE stream_id = %s", (sid,))
        assert (await cur.fetchone()) == (0,)

    async def test_metadata_is_stored_with_each_event(self, app_conn: Any) -> None:
        meta = {
            "merchant_id": str(uuid.uuid4()),
            "correlation_id": "corr-1",
            "causation_id": "cause-1",
            "request_id": "req-1",
            "actor": "test",
        }
        sid = new_stream()
        await append(app_conn, sid, [new_event(1, **meta), new_event(2, **meta)], 0)
        stored = await ledger.read_stream(app_conn, sid)
        assert [r.metadata for r in stored] == [meta, meta]
        assert all(r.recorded_at is not None and r.tx_id > 0 for r in stored)
        assert stored[0].tx_id == stored[1].tx_id  # one transaction

    async def test_read_all_pages_through_the_log_in_commit_order(self, app_conn: Any) -> None:
        _, cursor = await drain(app_conn, ledger.Cursor())
        written = []
        for i in range(7):
            written += await append(app_conn, new_stream(), [new_event(i), new_event(i)], 0)
        ours = {r.event_id for r in written}
        seen: list[ledger.Recorded] = []
        deadline = time.monotonic() + 30
        while not ours <= {r.event_id for r in seen}:  # the reader may wait for old transactions elsewhere
            assert time.monotonic() < deadline
            page = await ledger.read_all(app_conn, cursor, 3)
            assert len(page) <= 3
            seen += page
            if page:
                cursor = ledger.Cursor(page[-1].tx_id, page[-1].position)
            else:
                await asyncio.sleep(0.05)
        assert [r.event_id for r in seen if r.event_id in ours] == [r.event_id for r in written]
        assert len({r.event_id for r in seen}) == len(seen)

    async def test_a_reader_of_some_types_gets_every_event_in_its_place_the_others_without_documents(
        self, app_conn: Any
    ) -> None:
        _, cursor = await drain(app_conn, ledger.Cursor())
        wanted = ledger.NewEvent("test.wanted.v1", {"n": 1}, {"actor": "t"})
        written = await append(app_conn, new_stream(), [new_event(0, actor="t"), wanted, new_event(2)], 0)
        full: list[ledger.Recorded] = []
        deadline = time.monotonic() + 30
        while len(full) < 3:  # the reader may wait for old transactions elsewhere
            assert time.monotonic() < deadline
            full = [
                r for r in await ledger.read_all(app_conn, cursor, 100) if r.event_id in {w.event_id for w in written}
            ]
        typed = await ledger.read_all(app_conn, cursor, 100, types={"test.wanted.v1", "test.other.v1"})
        typed = [r for r in typed if r.event_id in {w.event_id for w in written}]
        assert [(r.position, r.tx_id, r.type, r.stream_version) for r in typed] == [
            (r.position, r.tx_id, r.type, r.stream_version) for r in full
        ]
        assert [(r.data, r.metadata) for r in typed] == [({}, {}), ({"n": 1}, {"actor": "t"}), ({}, {})]
        assert full == written

    async def test_a_reader_of_text_gets_every_event_in_its_place_its_id_and_documents_as_stored(
        self, app_conn: Any
    ) -> None:
        _, cursor = await drain(app_conn, ledger.Cursor())
        odd = ledger.NewEvent("test.odd.v1", {"big": 2**70, "ratio": 0.1, "é": ["ü", None]}, {"actor": "t"})
        written = await append(app_conn, new_stream(), [new_event(0), odd], 0)
        ours = {str(w.event_id) for w in written}
        rows: list[tuple[Any, ...]] = []
        deadline = time.monotonic() + 30
        while len(rows) < 2:  # the reader may wait for old transactions elsewhere
            assert time.monotonic() < deadline
            rows = [r for r in await ledger.read_all_text(app_conn, cursor, 100) if r[2] in ours]
        parsed = [(*r[:2], uuid.UUID(r[2]), *r[3:6], json.loads(r[6]), json.loads(r[7]), r[8]) for r in rows]
        assert [ledger.Recorded(*p) for p in parsed] == written


class TestOptimisticConcurrency:
    async def test_a_stale_expected_version_is_refused_and_burns_no_position(self, app_conn: Any, owner: Any) -> None:
        sid = new_stream()
        await append(app_conn, sid, [new_event(1), new_event(2)], 0)
        before = await identity_last_value(owner)
        for expected in (0, 1, 3, 7):
            with pytest.raises(ledger.ConcurrencyConflict) as info:
                await append(app_conn, sid, [new_event(9)], expected)
            assert (info.value.stream_id, info.value.expected_version) == (sid, expected)
        with pytest.raises(ledger.ConcurrencyConflict):
            await append(app_conn, new_stream(), [new_event(9)], 2)  # a new stream is at version 0
        assert await identity_last_value(owner) == before
        assert ledger.version_of(await ledger.read_stream(app_conn, sid)) == 2
        (next_one,) = await append(app_conn, sid, [new_event(3)], 2)
        assert before[0] is not None and next_one.position == before[0] + 1

    @pytest.mark.parametrize("existing", [0, 1], ids=["new stream", "existing stream"])
    async def test_of_20_concurrent_appends_at_one_version_exactly_one_wins(
        self, store: str, owner: Any, existing: int
    ) -> None:
        sid = new_stream()
        async with app_connection(store) as conn:
            await append(conn, sid, [new_event(0)] * existing, 0)
        before = await identity_last_value(owner)
        ready, go = asyncio.Semaphore(0), asyncio.Event()

        async def racer(i: int) -> bool:
            async with app_connection(store) as conn:
                try:
                    async with conn.transaction():
                        await conn.execute("SELECT 1")
                        ready.release()
                        await go.wait()
                        await ledger.append(conn, sid, [new_event(i), new_event(i)], expected_version=existing)
                    return True
                except ledger.ConcurrencyConflict:
                    return False

        tasks = [asyncio.create_task(racer(i)) for i in range(20)]
        for _ in tasks:
            await ready.acquire()
        go.set()
        outcomes = await asyncio.gather(*tasks)
        assert outcomes.count(True) == 1
        stored = await ledger.read_stream(owner, sid)
        assert [r.stream_version for r in stored] == list(range(1, existing + 3))
        winner = outcomes.index(True)
        assert [r.data["n"] for r in stored[existing:]] == [winner, winner]
        after = await identity_last_value(owner)
        assert before[0] is not None and after[0] == before[0] + 2  # the 19 losers drew no position


class TestCommitOrder:
    """Positions come from a sequence and are not gap-free in commit order; the reader must never skip."""

    async def test_a_slow_transaction_holding_an_early_position_is_not_skipped(self, store: str) -> None:
        async with app_connection(store) as slow, app_connection(store) as fast, app_connection(store) as reader:
            _, cursor = await drain(reader, ledger.Cursor())
            s1, s2 = new_stream(), new_stream()
            await slow.execute("BEGIN")
            [early] = await ledger.append(slow, s1, [new_event(1)], expected_version=0)
            [late] = await append(fast, s2, [new_event(2)], 0)
            assert late.position > early.position  # the gap: the later position is committed, the earlier is not
            seen, _ = await drain(reader, cursor)
            assert [r.stream_id for r in seen if r.stream_id in (s1, s2)] == []  # nothing delivered past the gap
            await slow.execute("COMMIT")
            seen = await wait_for_streams(reader, cursor, {s1, s2})
            assert [r.event_id for r in seen] == [early.event_id, late.event_id]

    async def test_a_late_commit_behind_the_cursor_is_still_delivered_once(self, store: str) -> None:
        async with app_connection(store) as slow, app_connection(store) as fast, app_connection(store) as reader:
            _, cursor = await drain(reader, ledger.Cursor())
            s1, s2 = new_stream(), new_stream()
            await fast.execute("BEGIN")
            await fast.execute("SELECT pg_current_xact_id()")  # the fast transaction is the older one
            await slow.execute("BEGIN")
            [early] = await ledger.append(slow, s1, [new_event(1)], expected_version=0)
            [late] = await ledger.append(fast, s2, [new_event(2)], expected_version=0)
            await fast.execute("COMMIT")
            assert late.position > early.position and late.tx_id < early.tx_id
            first = await wait_for_streams(reader, cursor, {s2})
            assert [r.event_id for r in first] == [late.event_id]
            cursor = ledger.Cursor(first[-1].tx_id, first[-1].position)
            assert early.position < cursor.position  # a reader keeping "position > checkpoint" would lose it
            await slow.execute("COMMIT")
            second = await wait_for_streams(reader, cursor, {s1})
            assert [r.event_id for r in second] == [early.event_id]
            everything, _ = await drain(reader, ledger.Cursor())
            assert [r.event_id for r in everything].count(early.event_id) == 1

    async def test_an_older_transaction_may_not_append_behind_a_newer_one_on_the_same_stream(self, store: str) -> None:
        """Readers follow transaction ids: a writer whose id is older than the stream's last writer would have its
        later version delivered first. Such an append is refused (retrying in a new transaction works)."""
        async with app_connection(store) as old, app_connection(store) as newer, app_connection(store) as reader:
            _, cursor = await drain(reader, ledger.Cursor())
            sid = new_stream()
            await old.execute("BEGIN")
            await old.execute("SELECT pg_current_xact_id()")  # it wrote something first: its id is taken
            [first] = await append(newer, sid, [new_event(1)], 0)
            with pytest.raises(ledger.ConcurrencyConflict):
                await ledger.append(old, sid, [new_event(2)], expected_version=1)
            await old.execute("ROLLBACK")
            [second] = await append(old, sid, [new_event(2)], 1)
            delivered = await wait_for_streams(reader, cursor, {sid})
            while len(delivered) < 2:
                delivered = await wait_for_streams(reader, cursor, {sid})
            assert [r.stream_version for r in delivered] == [1, 2]
            assert first.tx_id < second.tx_id

    async def test_one_transaction_may_append_to_a_stream_twice(self, app_conn: Any) -> None:
        sid = new_stream()
        async with app_conn.transaction():
            await ledger.append(app_conn, sid, [new_event(1)], expected_version=0)
            await ledger.append(app_conn, sid, [new_event(2)], expected_version=1)
        assert [r.stream_version for r in await ledger.read_stream(app_conn, sid)] == [1, 2]


async def wait_for_streams(
    reader: psycopg.AsyncConnection[Any], cursor: ledger.Cursor, streams: set[str], timeout: float = 30
) -> list[ledger.Recorded]:
    """Read after ``cursor`` until every stream in ``streams`` was delivered; only their events, in order.

    The reader waits for every older transaction in the cluster to finish, so on a busy server this may take a
    moment: poll with a deadline, never assume a time.
    """
    deadline = time.monotonic() + timeout
    while True:
        seen, _ = await drain(reader, cursor)
        ours = [r for r in seen if r.stream_id in streams]
        if {r.stream_id for r in ours} == streams or time.monotonic() > deadline:
            return ours
        await asyncio.sleep(0.05)


class TestImmutability:
    @pytest.mark.parametrize(
        "statement",
        ["UPDATE events SET type = 'changed' WHERE stream_id = %s", "DELETE FROM events WHERE stream_id = %s"],
        ids=["update", "delete"],
    )
    async def test_the_application_role_may_not_change_events(self, app_conn: Any, owner: Any, statement: str) -> None:
        sid = new_stream()
        await append(app_conn, sid, [new_event(1)], 0)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with app_conn.transaction():
                await app_conn.execute(statement, (sid,))
        assert [r.type for r in await ledger.read_stream(owner, sid)] == ["test.happened.v1"]

    async def test_the_application_role_may_not_truncate_events(self, app_conn: Any) -> None:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with app_conn.transaction():
                await app_conn.execute("TRUNCATE events")

    @pytest.mark.parametrize(
        ("statement", "operation"),
        [
            ("UPDATE events SET type = 'changed' WHERE stream_id = %s", "UPDATE"),
            ("DELETE FROM events WHERE stream_id = %s", "DELETE"),
            ("TRUNCATE events", "TRUNCATE"),
        ],
    )
    async def test_even_the_owner_is_refused_by_the_triggers(
        self, app_conn: Any, owner: Any, statement: str, operation: str
    ) -> None:
        sid = new_stream()
        await append(app_conn, sid, [new_event(1)], 0)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"immutable: {operation} refused"):
            async with owner.transaction():
                await owner.execute(statement, (sid,) if "%s" in statement else None)
        assert [r.type for r in await ledger.read_stream(owner, sid)] == ["test.happened.v1"]


class TestEventIdentity:
    async def test_an_event_id_is_unique_across_the_whole_store(self, app_conn: Any) -> None:
        event_id = uuid.uuid4()
        s1, s2 = new_stream(), new_stream()
        await append(app_conn, s1, [ledger.NewEvent("test.happened.v1", {}, event_id=event_id)], 0)
        with pytest.raises(psycopg.errors.UniqueViolation):
            await append(app_conn, s2, [ledger.NewEvent("test.happened.v1", {}, event_id=event_id)], 0)
        assert await ledger.read_stream(app_conn, s2) == []
        cur = await app_conn.execute("SELECT count(*) FROM streams WHERE stream_id = %s", (s2,))
        assert await cur.fetchone() == (0,)  # the whole append rolled back, version included

    async def test_two_events_of_one_append_may_not_share_an_id(self, app_conn: Any) -> None:
        twin = ledger.NewEvent("test.happened.v1", {})
        with pytest.raises(psycopg.errors.UniqueViolation):
            await append(app_conn, new_stream(), [twin, twin], 0)


class TestWakeups:
    @pytest.mark.parametrize("lean", [False, True])
    async def test_a_committed_append_wakes_readers_after_its_commit_and_appends_coalesce(
        self, store: str, lean: bool
    ) -> None:
        from paygate.database import make_pool
        from paygate.settings import Settings

        settings = Settings(_env_file=None, database_url=store)
        pools = make_pool(settings, store, max_size=3, name="nudge", lean=lean)
        async with app_connection(store) as listener, pools as pool:
            await listener.execute(f"LISTEN {ledger.follower.CHANNEL}")
            sid = new_stream()

            async def woken_reader() -> list[ledger.Recorded]:
                async for _ in listener.notifies(timeout=15, stop_after=1):
                    pass
                return await ledger.read_stream(reader, sid)  # at once, as a follower woken by it would

            async with app_connection(store) as reader, pool.connection() as writer:
                woken = asyncio.create_task(woken_reader())
                async with writer.transaction():
                    await ledger.append(writer, sid, [new_event(1)], expected_version=0)
                    await asyncio.sleep(0.05)  # the commit comes a while after the append (well below MAX_WAIT_S)
                # Sent after the commit: the woken reader found the event.
                assert [e.stream_version for e in await woken] == [1]
                with pytest.raises(ledger.ConcurrencyConflict):  # refused: no wake-up
                    await append(writer, new_stream(), [new_event(1)], 5)
                assert [n async for n in listener.notifies(timeout=0.5)] == []
            # A hundred appends back to back: far fewer wake-ups than appends (one per few ms at most).
            await asyncio.gather(*(writes(pool) for _ in range(2)))
            got = [n async for n in listener.notifies(timeout=1)]
            assert 1 <= len(got) < 100

    async def test_appends_on_a_connection_of_no_pool_wake_nobody(self, store: str) -> None:
        async with app_connection(store) as listener, app_connection(store) as writer:
            await listener.execute(f"LISTEN {ledger.follower.CHANNEL}")
            await append(writer, new_stream(), [new_event(1)], 0)
            assert [n async for n in listener.notifies(timeout=0.5)] == []  # readers' polling finds the event


async def writes(pool: Any) -> None:
    async with pool.connection() as conn:
        for _ in range(50):
            await ledger.append(conn, new_stream(), [new_event(1)], expected_version=0)
