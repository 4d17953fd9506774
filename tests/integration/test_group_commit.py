"""Group commit (commands.grouping) against a real PostgreSQL: appends of requests in flight together go in one
statement, each with its own outcome, and a batch the database refuses writes nothing and sends each alone."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from storekit import app_connection

import commands
import ledger
import projections
from commands import order
from commands.grouping import Group


@pytest.fixture
async def conns(store: str) -> AsyncIterator[list[psycopg.AsyncConnection[Any]]]:
    """Ten connections, as ten requests in flight each hold one of the API's pool."""
    async with (
        app_connection(store) as c0, app_connection(store) as c1, app_connection(store) as c2,
        app_connection(store) as c3, app_connection(store) as c4, app_connection(store) as c5,
        app_connection(store) as c6, app_connection(store) as c7, app_connection(store) as c8,
        app_connection(store) as c9,
    ):  # fmt: skip
        yield [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9]


def session(conn: Any, group: Group | None) -> commands.Session:
    return commands.Session(conn, projections.project_inline, {"request_id": f"req_{uuid.uuid4().hex}"}, None, group)


def create_order(merchant_id: str, amount: int = 50_000) -> order.CreateOrder:
    return order.CreateOrder(
        f"order_{uuid.uuid4().hex[:16]}", merchant_id, amount, "INR", "2030-06-15T10:00:00.000000Z"
    )


def appending(command: order.CreateOrder, event_id: uuid.UUID | None = None) -> ledger.Append:
    """The append ``commands.handle`` makes of ``command`` on a new stream (its event's id ``event_id``, if given)."""
    decided: list[Any] = list(order.decide(order.initial_state, command))
    encoded = [ledger.NewEvent(*commands.CODEC.encode(e), metadata={"request_id": "t"}) for e in decided]
    encoded = [ledger.NewEvent(e.type, e.data, e.metadata, event_id or e.event_id) for e in encoded]
    return ledger.Append(order.stream_id(command.order_id), encoded, 0)


async def events_of(conn: Any, stream_id: str) -> list[ledger.Recorded]:
    return await ledger.read_stream(conn, stream_id)


async def test_appends_in_flight_together_go_in_one_statement_and_each_is_written_once(
    conns: list[psycopg.AsyncConnection[Any]],
) -> None:
    group, merchant_id = Group(), str(uuid.uuid4())
    made: list[order.CreateOrder] = []

    async def request(conn: Any) -> None:
        command = create_order(merchant_id)
        made.append(command)
        await commands.handle(session(conn, group), order, order.stream_id(command.order_id), command, new_stream=True)

    for _ in range(3):  # the first of each round goes alone, at once; the nine behind it wait for it, then go together
        await asyncio.gather(*(request(c) for c in conns))
    assert (group.appends, group.batches) == (30, 6)
    conn = conns[0]
    for command in made:
        (created,) = await events_of(conn, order.stream_id(command.order_id))
        assert created.type == "order.created.v1" and created.data["order_id"] == command.order_id
    cur = await conn.execute(
        "SELECT count(*), count(DISTINCT id) FROM orders WHERE merchant_id = %s AND status = 'created'", (merchant_id,)
    )
    assert await cur.fetchone() == (30, 30), "each one's read row rode in its batch"
    cur = await conn.execute(
        "SELECT count(DISTINCT tx_id) FROM events WHERE stream_id = ANY(%s)",
        ([order.stream_id(c.order_id) for c in made],),
    )
    assert await cur.fetchone() == (6,), "one transaction a statement"


async def test_a_stream_that_moved_on_gets_its_conflict_and_holds_up_no_other(
    conns: list[psycopg.AsyncConnection[Any]],
) -> None:
    group, merchant_id = Group(), str(uuid.uuid4())
    taken = create_order(merchant_id)
    await commands.handle(session(conns[0], None), order, order.stream_id(taken.order_id), taken, new_stream=True)
    first, second = create_order(merchant_id), create_order(merchant_id)
    ahead = asyncio.ensure_future(group.save(session(conns[0], group), appending(create_order(merchant_id))))
    await asyncio.sleep(0)  # in flight alone: the three below wait behind it and then go as one statement
    outcomes = await asyncio.gather(
        group.save(session(conns[1], group), appending(first)),
        group.save(session(conns[2], group), appending(taken)),  # that stream is at version 1 already
        group.save(session(conns[3], group), appending(second)),
        return_exceptions=True,
    )
    await ahead
    assert group.batches == 2 and group.appends == 4
    assert isinstance(outcomes[1], ledger.ConcurrencyConflict)
    for command, outcome in ((first, outcomes[0]), (second, outcomes[2])):
        assert isinstance(outcome, list) and [e.stream_id for e in outcome] == [order.stream_id(command.order_id)]
        assert await events_of(conns[0], order.stream_id(command.order_id)) == outcome
    assert len(await events_of(conns[0], order.stream_id(taken.order_id))) == 1, "nothing of the loser written"


async def test_a_batch_the_database_refuses_writes_nothing_and_each_goes_alone(
    conns: list[psycopg.AsyncConnection[Any]],
) -> None:
    """One append of the batch breaks a constraint (its event id is taken): the statement fails whole, and each of
    its requests is told to append alone, where the bad one fails by itself."""
    group, merchant_id = Group(), str(uuid.uuid4())
    old = create_order(merchant_id)
    await commands.handle(session(conns[0], None), order, order.stream_id(old.order_id), old, new_stream=True)
    (taken,) = await events_of(conns[0], order.stream_id(old.order_id))
    good, bad, also_good = (create_order(merchant_id) for _ in range(3))
    ahead = asyncio.ensure_future(group.save(session(conns[0], group), appending(create_order(merchant_id))))
    await asyncio.sleep(0)
    outcomes = await asyncio.gather(
        group.save(session(conns[1], group), appending(good)),
        group.save(session(conns[2], group), appending(bad, event_id=taken.event_id)),
        group.save(session(conns[3], group), appending(also_good)),
    )
    await ahead
    assert list(outcomes).count(None) == 3 and group.alone == 3, "each told to go alone"
    for command in (good, bad, also_good):
        assert await events_of(conns[0], order.stream_id(command.order_id)) == [], "nothing written"
    # Alone, as Session.save_alone then sends each (the caller's transaction path does the same): the bad one fails.
    for command, conn in ((good, conns[1]), (also_good, conns[3])):
        alone = appending(command)
        await ledger.append(conn, alone.stream_id, alone.events, expected_version=0)
    with pytest.raises(psycopg.errors.UniqueViolation):
        alone = appending(bad, event_id=taken.event_id)
        await ledger.append(conns[2], alone.stream_id, alone.events, expected_version=0)


async def test_a_lone_append_goes_at_once_with_the_statement_it_always_had(
    conns: list[psycopg.AsyncConnection[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in flight: the append is sent at once, alone, by ``ledger.append`` (no batch statement)."""
    batches: list[int] = []
    real = ledger.append_batch

    async def counted(*args: Any, **kwargs: Any) -> Any:
        batches.append(len(args[1]))
        return await real(*args, **kwargs)

    monkeypatch.setattr(ledger, "append_batch", counted)
    group, merchant_id = Group(), str(uuid.uuid4())
    for _ in range(3):
        command = create_order(merchant_id)
        await commands.handle(
            session(conns[0], group), order, order.stream_id(command.order_id), command, new_stream=True
        )
        assert len(await events_of(conns[0], order.stream_id(command.order_id))) == 1
    assert (group.batches, group.appends, batches) == (3, 3, [])


async def test_a_request_that_goes_away_while_waiting_holds_up_nobody_and_is_not_written(
    conns: list[psycopg.AsyncConnection[Any]],
) -> None:
    group, merchant_id = Group(), str(uuid.uuid4())
    gone, stays = create_order(merchant_id), create_order(merchant_id)
    ahead = asyncio.ensure_future(group.save(session(conns[0], group), appending(create_order(merchant_id))))
    await asyncio.sleep(0)
    leaving = asyncio.ensure_future(group.save(session(conns[1], group), appending(gone)))
    staying = asyncio.ensure_future(group.save(session(conns[2], group), appending(stays)))
    await asyncio.sleep(0)  # both wait behind the one in flight
    leaving.cancel()
    await ahead
    assert await staying is not None
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert await events_of(conns[0], order.stream_id(gone.order_id)) == []
    assert len(await events_of(conns[0], order.stream_id(stays.order_id))) == 1
    # Idle again: the next append goes at once, alone.
    assert await group.save(session(conns[3], group), appending(create_order(merchant_id))) is not None
    assert (group.batches, group.appends) == (3, 3)
