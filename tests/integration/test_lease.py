"""``api.outage.Lease``: a request's pooled connection through the outage breaker, against real PostgreSQL. It
hands back what the pool gave, returns it, rolls back a transaction the request left open, and trips the breaker
on an outage only."""

import uuid
from typing import Any

import psycopg
import pytest

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
