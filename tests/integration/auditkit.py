"""Helpers of the audit tests: a log of two merchants, chaining it all, and tampering as a superuser would."""

import asyncio
import time
import uuid
from typing import Any

import psycopg
from storekit import append, new_stream

import ledger
from ledger import chain

MERCHANT_A, MERCHANT_B = str(uuid.uuid4()), str(uuid.uuid4())


async def two_merchants(conn: psycopg.AsyncConnection[Any], rounds: int = 6) -> None:
    """Events of two merchants interleaved, in single and multi-event transactions, with non-ASCII text."""
    for i in range(rounds):
        for merchant in (MERCHANT_A, MERCHANT_B):
            events = [
                ledger.NewEvent("test.happened.v1", {"merchant_id": merchant, "n": i, "note": "₹ café"}),
                ledger.NewEvent(
                    "test.other.v1", {"n": -i, "nested": {"b": [1, 2], "a": None}}, {"merchant_id": merchant}
                ),
            ]
            await append(conn, new_stream(), events[: 1 + i % 2], 0)


async def chain_all(conn: psycopg.AsyncConnection[Any], timeout: float = 60) -> int:
    """Chain until every event is chained (an old transaction elsewhere in the cluster may hold the reader back
    for a while, so an empty batch alone does not mean done); returns the chain's length."""
    deadline = time.monotonic() + timeout
    while True:
        await chain.chain_batch(conn)
        row = await (
            await conn.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM event_chain)")
        ).fetchone()
        assert row is not None
        if row[0] == row[1]:
            return int(row[1])
        assert time.monotonic() < deadline, "the chainer did not catch up"
        await asyncio.sleep(0.05)


async def seq_of(conn: psycopg.AsyncConnection[Any], position: int) -> int:
    row = await (await conn.execute("SELECT chain_seq FROM event_chain WHERE position = %s", (position,))).fetchone()
    assert row is not None
    return int(row[0])


async def behind_triggers(owner: psycopg.AsyncConnection[Any], statement: str, params: Any = None) -> None:
    """Run ``statement`` as a superuser with triggers off, as someone covering their tracks would."""
    async with owner.transaction():
        await owner.execute("SET LOCAL session_replication_role = replica")
        await owner.execute(statement, params)
