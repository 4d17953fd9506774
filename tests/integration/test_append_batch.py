"""Appends of many streams in one statement (ledger.append_batch), with the inline read rows riding in it
(effects.riding_batch), against real PostgreSQL: each stream checked on its own, nothing written for a stream that
moved on, and the rows its projections would have written, for exactly the streams appended."""

import asyncio
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import make_conninfo
from storekit import app_connection, append, new_event, new_stream, owner_connection

import ledger
from paygate.database import make_pool
from paygate.settings import Settings
from projections import effects


class TestAppendBatch:
    async def test_each_stream_is_appended_if_it_is_at_its_expected_version(self, app_conn: Any) -> None:
        old, moved, new = new_stream(), new_stream(), new_stream()
        await append(app_conn, old, [new_event(1)], 0)
        await append(app_conn, moved, [new_event(1), new_event(2)], 0)
        batch = [
            ledger.Append(old, [new_event(2), new_event(3)], 1),
            ledger.Append(moved, [new_event(9)], 1),  # it is at 2: refused, and holds up nobody
            ledger.Append(new, [new_event(1)], 0),
        ]
        done = await ledger.append_batch(app_conn, batch)
        assert sorted(done) == sorted([old, new])
        assert [r.stream_version for r in done[old]] == [2, 3]
        assert [r.data["n"] for r in await ledger.read_stream(app_conn, old)] == [1, 2, 3]
        assert [r.data["n"] for r in await ledger.read_stream(app_conn, moved)] == [1, 2]
        assert await ledger.read_stream(app_conn, new) == done[new]
        # One statement, one transaction; within a stream, positions follow versions.
        assert len({r.tx_id for rs in done.values() for r in rs}) == 1
        assert done[old][0].position < done[old][1].position

    async def test_a_new_stream_that_exists_already_is_refused(self, app_conn: Any) -> None:
        taken = new_stream()
        await append(app_conn, taken, [new_event(1)], 0)
        assert await ledger.append_batch(app_conn, [ledger.Append(taken, [new_event(2)], 0)]) == {}
        assert len(await ledger.read_stream(app_conn, taken)) == 1

    async def test_a_stream_appears_once_in_a_batch(self, app_conn: Any) -> None:
        sid = new_stream()
        with pytest.raises(ValueError, match="once"):
            await ledger.append_batch(app_conn, [ledger.Append(sid, [new_event(1)], 0)] * 2)

    async def test_racing_batches_append_each_event_once(self, store: str) -> None:
        """Two batches on separate connections, both sure of the same versions: each stream goes to one."""
        sids = [new_stream() for _ in range(20)]
        async with app_connection(store) as a, app_connection(store) as b:
            await ledger.append_batch(a, [ledger.Append(s, [new_event(0)], 0) for s in sids])
            results = await asyncio.gather(
                *(
                    ledger.append_batch(c, [ledger.Append(s, [new_event(n)], 1) for s in sids])
                    for n, c in ((1, a), (2, b))
                )
            )
            assert sorted([*results[0], *results[1]]) == sorted(sids)
            for s in sids:
                assert [r.stream_version for r in await ledger.read_stream(a, s)] == [1, 2]


# ---------------------------------------------------------------- the events' data, sent as one JSON document

#: Text jsonb can hold: every code point but NUL and lone surrogates.
Text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8)
#: What an event's data can hold, integers past 64 bits and floats among it.
Values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | Text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(Text, inner, max_size=3),
)


async def stored_alike(store: str, datas: list[dict[str, Any]]) -> list[str]:
    """The events' data appended in one batch and one by one: the pairs whose stored jsonb differ."""
    async with app_connection(store) as conn:
        alone = [new_stream() for _ in datas]
        for sid, data in zip(alone, datas, strict=True):
            await ledger.append(conn, sid, [ledger.NewEvent("test.v1", data, {"m": data})], expected_version=0)
        batched = [new_stream() for _ in datas]
        appends = [
            ledger.Append(s, [ledger.NewEvent("test.v1", d, {"m": d})], 0) for s, d in zip(batched, datas, strict=True)
        ]
        assert sorted(await ledger.append_batch(conn, appends)) == sorted(batched)
        cur = await conn.execute(
            """SELECT a.stream_id FROM unnest(%s::text[], %s::text[]) AS p(alone, batched)
               JOIN events a ON a.stream_id = p.alone JOIN events b ON b.stream_id = p.batched
               WHERE a.data IS DISTINCT FROM b.data OR a.metadata IS DISTINCT FROM b.metadata""",
            (alone, batched),
        )
        return [r[0] for r in await cur.fetchall()]


@given(datas=st.lists(st.dictionaries(Text, Values, max_size=4), min_size=1, max_size=5))
@example(datas=[{"past 64 bits": 2**70, "nested": [{"é": -(2**64)}]}])  # one orjson refuses
@example(datas=[{"n": 1}, {"float": 1e-05}])  # one orjson would spell its own way
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
def test_a_batch_stores_each_events_data_as_a_lone_append_does(
    loop: asyncio.Runner, store: str, datas: list[dict[str, Any]]
) -> None:
    assert loop.run(stored_alike(store, datas)) == []


async def test_a_number_that_is_not_finite_is_refused_and_nothing_is_written(app_conn: Any) -> None:
    sids = [new_stream(), new_stream()]
    batch = [ledger.Append(sids[0], [new_event(0)], 0), ledger.Append(sids[1], [new_event(float("nan"))], 0)]
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        await ledger.append_batch(app_conn, batch)
    for sid in sids:
        assert await ledger.read_stream(app_conn, sid) == []


async def test_the_gateways_pools_keep_the_stores_json_rules(store: str) -> None:
    """Making a pool once replaced them with plain orjson: an integer past 64 bits could not be written, and one
    stored was read back as a float."""
    settings = Settings(database_url=store, _env_file=None)  # type: ignore[call-arg]
    sid = new_stream()
    async with make_pool(settings, store, max_size=1) as pool, pool.connection() as conn:
        await ledger.append(conn, sid, [ledger.NewEvent("test.v1", {"big": 2**70}, {})], expected_version=0)
        (read,) = await ledger.read_stream(conn, sid)
    assert read.data == {"big": 2**70} and isinstance(read.data["big"], int)


async def test_the_gateways_pools_read_times_in_utc_whatever_the_servers_zone(store: str) -> None:
    settings = Settings(database_url=store, _env_file=None)  # type: ignore[call-arg]
    elsewhere = make_conninfo(store, options="-c TimeZone=Asia/Kolkata")  # the server's own zone, say
    sid = new_stream()
    async with make_pool(settings, elsewhere, max_size=1) as pool, pool.connection() as conn:
        await ledger.append(conn, sid, [ledger.NewEvent("test.v1", {}, {})], expected_version=0)
        (read,) = await ledger.read_stream(conn, sid)
    assert read.recorded_at.tzinfo is UTC


# ---------------------------------------------------------------- effects riding in a batch

PROBE = "k text PRIMARY KEY, a text, b text, n bigint NOT NULL DEFAULT 0, at timestamptz"

Texts = st.one_of(st.none(), st.sampled_from(["x", "y", "ünï"]))
Times = st.one_of(st.none(), st.sampled_from(["2026-12-06T10:00:00Z", "2026-12-06T10:00:01.5Z"]))
Inserts = st.builds(
    lambda k, a, at: effects.Insert("ride_batch", {"k": k, "a": a, "at": at}, key=("k",)), st.just(""), Texts, Times
)
Updates = st.builds(
    lambda values, n: effects.Update("ride_batch", {"k": ""}, values, {"n": n} if n is not None else {}),
    st.fixed_dictionaries(
        {},
        optional={
            "a": st.one_of(Texts, st.just(effects.Col("b"))),
            "b": st.one_of(Texts, st.just(effects.Col("a"))),
            "at": Times,
        },
    ),
    st.one_of(st.none(), st.integers(-50, 50)),
)
#: One stream's effects, all on its own row (the key is filled in with the stream): an insert, or updates.
StreamEffects = st.one_of(Inserts.map(lambda e: [e]), st.lists(Updates, min_size=1, max_size=3))


def keyed(stream: str, found: list[effects.Effect]) -> list[effects.Effect]:
    out: list[effects.Effect] = []
    for e in found:
        if isinstance(e, effects.Insert):
            out.append(effects.Insert(e.table, {**e.row, "k": stream}, key=e.key))
        else:
            assert isinstance(e, effects.Update)
            out.append(effects.Update(e.table, {"k": stream}, e.values, e.add))
    return out


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


async def batch_or_one_by_one(store: str, plan: list[tuple[list[effects.Effect], bool]]) -> list[tuple[str, str]]:
    """The rows left by streams' effects riding in one batch append (some streams moved on, so not appended),
    against each appended stream's effects executed one by one: the rows that differ."""
    async with owner_connection(store) as conn:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS ride_batch ({PROBE})")
        await conn.execute("CREATE TABLE IF NOT EXISTS ride_batch_expected (LIKE ride_batch)")
        await conn.execute("TRUNCATE ride_batch, ride_batch_expected")
        streams = [new_stream() for _ in plan]
        # Rows to update for the streams that update (a stream that inserts finds no row of its own).
        seed = [
            effects.Insert("ride_batch", {"k": s, "a": "seed", "b": "seed", "n": 7}, key=("k",))
            for s, (found, _) in zip(streams, plan, strict=True)
            if not isinstance(found[0], effects.Insert)
        ]
        await effects.execute(conn, seed)
        for s in streams:
            await append(conn, s, [new_event(0)], 0)
        items = [(s, keyed(s, found)) for s, (found, _) in zip(streams, plan, strict=True)]
        rides = effects.riding_batch(items, await effects.column_types(conn, ["ride_batch"]), ledger.if_batch_appended)
        if rides is None:  # only where some stream's effects could not ride on their own either
            return [] if any(effects.riding(found, "true") is None for _, found in items) else [("refused", "")]
        batch = [
            ledger.Append(s, [new_event(1)], 1 if moves else 5) for s, (_, moves) in zip(streams, plan, strict=True)
        ]
        done = await ledger.append_batch(conn, batch, also=rides)
        assert sorted(done) == sorted(s for s, (_, moves) in zip(streams, plan, strict=True) if moves)
        await conn.execute("INSERT INTO ride_batch_expected TABLE ride_batch")
        await conn.execute("TRUNCATE ride_batch")
        await effects.execute(conn, seed)
        for s, found in items:
            if s in done:
                await effects.execute(conn, found)
        differ = []
        for side, a, b in (
            ("batch", "ride_batch_expected", "ride_batch"),
            ("one by one", "ride_batch", "ride_batch_expected"),
        ):
            cur = await conn.execute(f"SELECT d::text FROM (TABLE {a} EXCEPT TABLE {b}) d")
            differ += [(side, r[0]) for r in await cur.fetchall()]
        return differ


@given(plan=st.lists(st.tuples(StreamEffects, st.booleans()), min_size=1, max_size=8))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
def test_effects_riding_in_a_batch_leave_the_rows_of_the_streams_appended(
    loop: asyncio.Runner, store: str, plan: list[tuple[list[effects.Effect], bool]]
) -> None:
    assert loop.run(batch_or_one_by_one(store, plan)) == []


def test_effects_that_cannot_ride_in_a_batch() -> None:
    types = {"t": {"k": "text", "a": "text"}}
    row = effects.Update("t", {"k": "1"}, {"a": "x"})
    assert (
        effects.riding_batch([("s1", [row]), ("s2", [row])], types, ledger.if_batch_appended) is None
    )  # one row, two streams
    tally = effects.Tally("t", {"k": "1"}, {"a": 1})
    assert effects.riding_batch([("s1", [tally])], types, ledger.if_batch_appended) is None
    rides = effects.riding_batch(
        [("s1", [row]), ("s2", [effects.Update("t", {"k": "2"}, {"a": "y"})])], types, ledger.if_batch_appended
    )
    assert rides is not None and len(rides) == 1  # one shape: one statement for both rows
