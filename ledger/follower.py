"""Following the log: wake-ups from NOTIFY with a polling fallback, and a leader lock per follower."""

import asyncio
import zlib
from typing import Any

import psycopg

#: Channel the `events` insert trigger notifies once per appending transaction.
CHANNEL = "events"


class Wakeup:
    """Waits for the next NOTIFY on the events channel, or for ``timeout`` seconds, whichever comes first.

    A notification is only a hint: callers always re-read the table, so a lost one costs at most a poll.
    """

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    @classmethod
    async def listen(cls, conn: psycopg.AsyncConnection[Any]) -> "Wakeup":
        await conn.execute(f"LISTEN {CHANNEL}")
        return cls(conn)

    async def wait(self, timeout: float) -> None:
        gen = self._conn.notifies(timeout=timeout, stop_after=1)
        async for _ in gen:
            pass
        await asyncio.sleep(0)


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def lead(conn: psycopg.AsyncConnection[Any], name: str, stop: asyncio.Event, poll_s: float) -> bool:
    """Stand by until this session holds ``name``'s leader lock; False if ``stop`` came first."""
    while not await try_lead(conn, name):
        if await pause(stop, poll_s):
            return False
    return True


def lock_key(name: str) -> int:
    """A stable advisory-lock key for a follower's name."""
    return zlib.crc32(f"paygate:{name}".encode())


async def try_lead(conn: psycopg.AsyncConnection[Any], name: str) -> bool:
    """Take the session-level advisory lock of ``name``: one leader per follower, others stand by."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(name),))
    row = await cur.fetchone()
    return bool(row and row[0])


async def step_down(conn: psycopg.AsyncConnection[Any], name: str) -> None:
    """Release ``name``'s leader lock and stop listening, so the pooled connection is clean again."""
    await conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(name),))
    await conn.execute("UNLISTEN *")
