"""The two engines of projections/effects.py, SQL (live) and memory (replay), leave the same rows after any
sequence of effects: inserts that keep the first row and post their follow-ups only when they wrote it,
updates that read the row as it was, additions, tallies that create their row from zeros, columns left to
their defaults."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storekit import owner_connection

import ledger
from projections import effects

TABLES = {
    "fx": "k text PRIMARY KEY, a text, b text, n bigint NOT NULL DEFAULT 0, s text NOT NULL DEFAULT 'default'",
    "fy": "k text, j int, n numeric NOT NULL DEFAULT 0, m bigint NOT NULL DEFAULT 0, PRIMARY KEY (k, j)",
}

Keys = st.sampled_from("pqr")
Texts = st.one_of(st.none(), st.sampled_from(["x", "y", "ünï"]))
Tallies = st.builds(
    lambda k, j, n, m: effects.Tally("fy", {"k": k, "j": j}, {"n": n} | ({"m": m} if m is not None else {})),
    Keys,
    st.integers(0, 2),
    st.integers(-(2**70), 2**70),  # numeric sums beyond bigint
    st.one_of(st.none(), st.integers(-1000, 1000)),
)
Inserts = st.builds(
    lambda k, a, s, then: effects.Insert("fx", {"k": k, "a": a} | ({"s": s} if s else {}), key=("k",), then=then),
    Keys,
    Texts,
    st.one_of(st.none(), st.sampled_from(["s1", "s2"])),
    st.lists(Tallies, max_size=2).map(tuple),
)
Updates = st.builds(
    lambda k, values, s, n: effects.Update(
        "fx", {"k": k}, values | ({"s": s} if s else {}), {"n": n} if n is not None else {}
    ),
    Keys,
    st.dictionaries(
        st.sampled_from(["a", "b"]), st.one_of(Texts, st.sampled_from([effects.Col("a"), effects.Col("b")]))
    ),
    st.one_of(st.none(), st.sampled_from(["u", "v"])),  # s is NOT NULL: only texts
    st.one_of(st.none(), st.integers(-50, 50)),
)
Effects = st.lists(st.one_of(Inserts, Updates, Tallies), max_size=30)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


async def both_engines(store: str, sequence: list[effects.Effect], many: bool = False) -> list[tuple[str, str, str]]:
    """Rows (table, side, row as text) that only one engine left (``many``: SQL in batches, ``execute_many``)."""
    async with owner_connection(store) as conn, conn.transaction():
        await conn.execute("CREATE SCHEMA IF NOT EXISTS memory")
        for table, columns in TABLES.items():
            await conn.execute(f"CREATE TEMP TABLE {table} ({columns}) ON COMMIT DROP")
            await conn.execute(f"DROP TABLE IF EXISTS memory.{table}")
            await conn.execute(f"CREATE TABLE memory.{table} ({columns})")
        if many:  # two batches, so the second meets rows the first wrote
            await effects.execute_many(conn, sequence[: len(sequence) // 2])
            await effects.execute_many(conn, sequence[len(sequence) // 2 :])
        else:
            await effects.execute(conn, sequence)
        memory = effects.Tables()
        memory.apply(sequence)
        for table in TABLES:
            await memory.copy_to(conn, "memory", table)
        differ = []
        for table in TABLES:
            for side, a, b in (("sql", "pg_temp", "memory"), ("memory", "memory", "pg_temp")):
                cur = await conn.execute(f"SELECT d::text FROM (TABLE {a}.{table} EXCEPT TABLE {b}.{table}) d")
                differ += [(table, side, r[0]) for r in await cur.fetchall()]
        return differ


@given(sequence=Effects)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
def test_sql_and_memory_leave_the_same_rows(loop: asyncio.Runner, store: str, sequence: list[Any]) -> None:
    assert loop.run(both_engines(store, sequence)) == []


@given(sequence=st.lists(st.one_of(Inserts, Tallies), max_size=30))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
def test_inserts_and_tallies_in_batches_leave_the_rows_they_leave_one_by_one(
    loop: asyncio.Runner, store: str, sequence: list[Any]
) -> None:
    """The projection runner's batches (``effects.execute_many``): a statement per shape of effect, not per effect."""
    assert loop.run(both_engines(store, sequence, many=True)) == []


def test_the_engines_agree_on_a_case_that_exercises_every_rule(loop: asyncio.Runner, store: str) -> None:
    """Not random, so it cannot be missed: a repeated insert, its follow-ups once, a swap through Col, an
    update of no row, a tally created then added to."""
    tally = effects.Tally("fy", {"k": "p", "j": 1}, {"n": 5})
    sequence: list[effects.Effect] = [
        effects.Insert("fx", {"k": "p", "a": "1", "b": "2"}, key=("k",), then=(tally,)),
        effects.Insert("fx", {"k": "p", "a": "other"}, key=("k",), then=(tally,)),
        effects.Update("fx", {"k": "p"}, {"a": effects.Col("b"), "b": effects.Col("a")}, {"n": 3}),
        effects.Update("fx", {"k": "absent"}, {"a": "never"}),
        effects.Tally("fy", {"k": "p", "j": 1}, {"m": -2}),
    ]
    assert loop.run(both_engines(store, sequence)) == []
    memory = effects.Tables()
    memory.apply(sequence)
    assert memory.rows["fx"] == {("p",): {"k": "p", "a": "2", "b": "1", "n": 3}}
    assert memory.rows["fy"] == {("p", 1): {"k": "p", "j": 1, "n": 5, "m": -2}}


def test_a_batch_with_an_update_runs_one_by_one(loop: asyncio.Runner, store: str) -> None:
    sequence: list[effects.Effect] = [
        effects.Insert("fx", {"k": "p", "a": "1"}, key=("k",)),
        effects.Update("fx", {"k": "p"}, {"a": "2"}),
        effects.Insert("fx", {"k": "p", "a": "3"}, key=("k",)),
    ]
    assert loop.run(both_engines(store, sequence, many=True)) == []


async def summed_or_not(store: str, tallies: list[effects.Effect]) -> list[tuple[str, str]]:
    """Rows that differ between the tallies run one by one and run as ``effects.summed`` adds them up."""
    async with owner_connection(store) as conn, conn.transaction():
        await conn.execute("CREATE SCHEMA IF NOT EXISTS summed")
        await conn.execute(f"CREATE TEMP TABLE fy ({TABLES['fy']}) ON COMMIT DROP")
        await conn.execute("DROP TABLE IF EXISTS summed.fy")
        await conn.execute("CREATE TABLE summed.fy AS TABLE pg_temp.fy")
        await effects.execute(conn, effects.summed(tallies))
        await conn.execute("INSERT INTO summed.fy TABLE pg_temp.fy")
        await conn.execute("TRUNCATE pg_temp.fy")
        await effects.execute(conn, tallies)
        differ = []
        for side, a, b in (("one by one", "pg_temp", "summed"), ("summed", "summed", "pg_temp")):
            cur = await conn.execute(f"SELECT d::text FROM (TABLE {a}.fy EXCEPT TABLE {b}.fy) d")
            differ += [(side, r[0]) for r in await cur.fetchall()]
        return differ


@given(tallies=st.lists(Tallies, max_size=30))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
def test_tallies_added_up_leave_the_rows_they_leave_one_by_one(
    loop: asyncio.Runner, store: str, tallies: list[Any]
) -> None:
    """The projection runner's batches (``effects.execute_many``) add up the tallies of one row: each row once."""
    assert loop.run(summed_or_not(store, tallies)) == []
    assert len(effects.summed(tallies)) == len({(t.table, tuple(t.key.items())) for t in tallies})


def test_only_tallies_are_added_up() -> None:
    with pytest.raises(TypeError):
        effects.summed(
            [effects.Tally("fy", {"k": "p", "j": 1}, {"n": 1}), effects.Update("fx", {"k": "p"}, {"a": "x"})]
        )


def test_a_batch_reads_what_its_rules_read_once_and_leaves_the_rows_of_one_by_one(
    loop: asyncio.Runner, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``effects.batch_applier``: rules that read another table read it in one query for the whole batch."""
    live_reads: list[str] = []
    real_reader = effects.reader

    def counting_reader(conn: Any) -> Any:
        read = real_reader(conn)

        async def counted(table: str, key: dict[str, Any], column: str) -> Any:
            live_reads.append(table)
            return await read(table, key, column)

        return counted

    async def changes(event: Any, read: effects.Read) -> list[effects.Effect]:
        a = await read("fx", {"k": event.data["k"]}, "a")
        return [effects.Tally("fy", {"k": a or "none", "j": 0}, {"n": 1, "m": event.data["m"]})]

    events = [
        ledger.Recorded(i, 1, uuid.uuid4(), "s", i, "t.v1", {"k": k, "m": i}, {}, datetime.now(UTC))
        for i, k in enumerate("pqrpxp")
    ]

    async def run(batched: bool) -> list[Any]:
        async with owner_connection(store) as conn, conn.transaction():
            for table, columns in TABLES.items():
                await conn.execute(f"CREATE TEMP TABLE {table} ({columns}) ON COMMIT DROP")
            await conn.execute("INSERT INTO fx (k, a) VALUES ('p', 'A'), ('q', NULL), ('r', 'C')")
            if batched:
                await effects.batch_applier(changes, frozenset({"t.v1"}))(conn, events)
            else:
                for event in events:
                    await effects.applier(changes, frozenset({"t.v1"}))(conn, event)
            cur = await conn.execute("SELECT k, j, n, m FROM fy ORDER BY k")
            return list(await cur.fetchall())

    monkeypatch.setattr(effects, "reader", counting_reader)
    one_by_one = loop.run(run(False))
    assert len(live_reads) == len(events)
    live_reads.clear()
    assert loop.run(run(True)) == one_by_one == [("A", 0, 3, 0 + 3 + 5), ("C", 0, 1, 2), ("none", 0, 2, 1 + 4)]
    assert live_reads == []
