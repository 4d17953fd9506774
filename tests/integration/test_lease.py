"""``api.outage.Lease``: a request's pooled connection through the outage breaker, against real PostgreSQL. It
hands back what the pool gave, returns it, rolls back a transaction the request left open, and trips the breaker
on an outage only."""

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from api.outage import Breaker
from paygate.database import make_pool


async def test_the_connection_goes_back_to_the_pool_idle(settings: Any, store: str) -> None:
    breaker = Breaker(down_wait_s=1.0)
    async with make_pool(settings, store, max_size=1, lean=True) as pool:
        async with breaker.connection(pool) as conn:
            assert (await (await conn.execute("SELECT 1")).fetchone()) == (1,)
        async with breaker.connection(pool) as again:  # a pool of one: the same connection, back again
            assert again is conn and again.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not breaker.down


async def test_a_transaction_left_open_is_rolled_back_not_committed(settings: Any, store: str) -> None:
    name = f"lease-{uuid.uuid4().hex}"
    async with make_pool(settings, store, max_size=1, lean=True) as pool:
        async with Breaker(1.0).connection(pool) as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO checkpoints (name, tx_id, position) VALUES (%s, '1', 1)", (name,))
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT count(*) FROM checkpoints WHERE name = %s", (name,))).fetchone()
    assert row == (0,)


async def test_an_outage_inside_trips_the_breaker(settings: Any, store: str) -> None:
    breaker = Breaker(1.0)
    async with make_pool(settings, store, max_size=1, lean=True) as pool:
        with pytest.raises(psycopg.OperationalError):
            async with breaker.connection(pool):
                raise psycopg.OperationalError("server closed the connection unexpectedly")
    assert breaker.down


async def test_a_statements_own_error_does_not(settings: Any, store: str) -> None:
    breaker = Breaker(1.0)
    async with make_pool(settings, store, max_size=1, lean=True) as pool:
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with breaker.connection(pool) as conn:
                await conn.execute("SELECT 1 / 0")
        async with breaker.connection(pool) as conn:  # and the connection is fine afterwards
            assert (await (await conn.execute("SELECT 2")).fetchone()) == (2,)
    assert not breaker.down


async def test_a_pool_that_cannot_connect_trips_it(settings: Any) -> None:
    breaker = Breaker(down_wait_s=0.2, normal_wait_s=0.5)
    async with make_pool(settings, "postgresql://127.0.0.1:1/none", max_size=1, lean=True) as pool:
        with pytest.raises(psycopg.OperationalError):  # PoolTimeout is one
            async with breaker.connection(pool):
                pass
    assert breaker.down


async def test_requests_beyond_the_seats_wait_at_the_gate_not_in_the_pool(settings: Any, store: str) -> None:
    """A pool of 3 seats 2 requests; the other four wait their turn at the gate, and every one is served."""
    breaker = Breaker(1.0)
    inside, most, go = 0, 0, asyncio.Event()

    async def request() -> None:
        nonlocal inside, most
        async with breaker.connection(pool) as conn:
            inside += 1
            most = max(most, inside)
            await go.wait()
            await conn.execute("SELECT 1")
            inside -= 1

    async with make_pool(settings, store, max_size=3, lean=True) as pool:
        await pool.wait()
        tasks = [asyncio.create_task(request()) for _ in range(6)]
        while inside < 2:
            await asyncio.sleep(0.01)  # until both seats are taken (the other four then wait at the gate)
        go.set()
        await asyncio.gather(*tasks)
        assert pool.get_stats().get("requests_queued", 0) == 0
    assert most == 2 and not breaker.down


async def test_a_wait_at_the_gate_is_bounded_like_the_pools(settings: Any, store: str) -> None:
    breaker = Breaker(down_wait_s=0.1, normal_wait_s=0.2)
    async with make_pool(settings, store, max_size=1, lean=True) as pool, breaker.connection(pool):
        with pytest.raises(PoolTimeout):
            async with breaker.connection(pool):
                pass


async def test_a_request_cancelled_at_the_gate_or_in_the_pool_gives_its_seat_back(settings: Any, store: str) -> None:
    breaker = Breaker(down_wait_s=0.5, normal_wait_s=0.5)
    async with make_pool(settings, store, max_size=2, lean=True) as pool:  # one seat
        held = breaker.connection(pool)
        await held.__aenter__()
        at_gate = asyncio.create_task(breaker.connection(pool).__aenter__())
        for _ in range(3):
            await asyncio.sleep(0)  # it runs until it waits for the seat: nothing before that does I/O
        assert not at_gate.done()
        at_gate.cancel()
        with pytest.raises(asyncio.CancelledError):
            await at_gate
        await held.__aexit__(None, None, None)

        taken = [await pool.getconn(), await pool.getconn()]  # every connection, taken outside the gate
        in_pool = asyncio.create_task(breaker.connection(pool).__aenter__())  # the seat, then waits in getconn
        while pool.get_stats().get("requests_waiting", 0) == 0:
            await asyncio.sleep(0.01)
        in_pool.cancel()
        with pytest.raises(asyncio.CancelledError):
            await in_pool
        for conn in taken:
            await pool.putconn(conn)

        # Had either kept the seat, this would wait out the 0.5 s and raise PoolTimeout.
        async with breaker.connection(pool) as conn:
            assert (await (await conn.execute("SELECT 3")).fetchone()) == (3,)
    assert not breaker.down
