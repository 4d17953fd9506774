"""Following the log: wake-ups from NOTIFY with a polling fallback, and a leader lock per follower."""

import asyncio
import contextlib
import random
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from ledger.wakeups import CHANNEL

log = structlog.get_logger(__name__)


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

    async def wait(self, timeout: float) -> bool:
        """True if a notification came (or had come meanwhile), False on the timeout (or when what the socket
        brought was no notification: a hint missed costs at most a poll).

        psycopg's own wait for notifications looks up every 0.1 s (to notice an interrupt): ten wake-ups a second
        of every idle follower. So the socket is waited on here, and psycopg then takes what came without waiting.
        """
        if await self._take():  # received meanwhile: psycopg keeps what came during other statements
            return True
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        fd = self._conn.fileno()
        loop.add_reader(fd, ready)
        try:
            await asyncio.wait_for(readable, timeout)
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(fd)
        return await self._take()

    async def _take(self) -> bool:
        came = False
        async for _ in self._conn.notifies(timeout=0):
            came = True
        return came


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
    """Release ``name``'s leader lock and stop listening, so the pooled connection is clean again.

    A connection that is already gone took the lock with it, so there is nothing to release then."""
    with contextlib.suppress(psycopg.Error):
        await conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(name),))
        await conn.execute("UNLISTEN *")


class LostLeadership(Exception):
    """This session no longer holds the follower's lock (its connection was replaced, or a newer leader fenced
    this one off): stop at once and stand by again."""


async def holds(conn: psycopg.AsyncConnection[Any], name: str) -> bool:
    """Whether this very session still holds ``name``'s leader lock (a lost session raises instead)."""
    cur = await conn.execute(
        """SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
               AND classid = 0 AND objid = %s AND objsubid = 1 AND granted)""",
        (lock_key(name),),
    )
    row = await cur.fetchone()
    return bool(row and row[0])


def backoff_s(failures: int, base_s: float = 0.25, cap_s: float = 10.0) -> float:
    """Capped exponential backoff with full jitter, so restarted followers do not hammer the database in step."""
    return random.uniform(0, min(cap_s, base_s * 2 ** min(failures, 16)))


async def resilient(
    name: str, body: Callable[[], Awaitable[None]], stop: asyncio.Event, *, cap_s: float = 10.0
) -> None:
    """Run ``body`` until ``stop`` is set, again and again: whatever it raises (a lost connection, a restarted
    or failed-over database, an unreachable broker) is logged and retried after a capped, jittered backoff.

    The backoff starts over once ``body`` has run for longer than ``cap_s`` without failing.
    """
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            await body()
            failures = 0
            if not stop.is_set():  # a body that returns on its own is simply run again
                await pause(stop, 0.05)
            continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures = 1 if time.monotonic() - started > cap_s else failures + 1
            delay = backoff_s(failures, cap_s=cap_s)
            log.warning(f"{name}.failed", error=f"{type(exc).__name__}: {exc}", retry_in_s=round(delay, 2))
        await pause(stop, delay)


#: After a wake-up that found nothing to read, look again after this long, then twice that, ... up to
#: ``HELD_BACK_MAX_S``. An event that woke us can still be hidden behind an older transaction that has not
#: finished (``read_all`` reads only below the oldest one in flight), and that transaction may end without
#: sending a wake-up of its own (it appended nothing): without these looks the event waited for ``poll_s``.
HELD_BACK_S = 0.005
HELD_BACK_MAX_S = 0.2
#: After a batch of n events that was not full, a follower given ``fill`` waits n times this (at most the
#: fill's seconds) for more. A lone event after a quiet spell waits about nothing, while a steady flow gathers
#: into batches: below about 1 / this events a second the batches stay small, above it they grow to the cap.
GATHER_PER_EVENT_S = 0.002

#: What a leader does once per batch; given the leader's epoch, returns how much it did (0: nothing to do).
Batch = Callable[[int], Awaitable[int]]
#: Called once leadership is taken, on the leader's connection; returns the new epoch (the fencing token).
Claim = Callable[[psycopg.AsyncConnection[Any]], Awaitable[int]]


async def follow(
    pool: AsyncConnectionPool[Any],
    name: str,
    stop: asyncio.Event,
    batch: Batch,
    *,
    poll_s: float = 1.0,
    wake_on_events: bool = True,
    claim: Claim | None = None,
    idle_s: Callable[[], Awaitable[float]] | None = None,
    fill: tuple[int, float] | None = None,
) -> None:
    """Lead ``name`` and run ``batch`` until ``stop`` is set, surviving outages (see ``resilient``).

    Leadership is checked on the lock's own session before every batch: a follower whose session is gone stops
    at once, and does nothing until it holds the lock again. ``claim`` bumps the epoch its checkpoints carry,
    so a write from an ex-leader that was merely paused is refused.
    After a batch that did nothing it waits for the next NOTIFY (``wake_on_events``), ``idle_s()`` or ``poll_s``.
    ``fill`` = (full, seconds): after a batch of fewer than ``full`` it waits for more events, ``GATHER_PER_EVENT_S``
    for each event the batch held and at most ``seconds``, since a batch pays its leadership check and
    checkpoint moves however few events it holds (the reader trails the log by about that much while appends
    flow).
    """

    async def term() -> None:
        try:
            await lead_once()
        except Exception:
            # The pool's idle connections died with the same server: drop them now rather than meeting each.
            with contextlib.suppress(Exception):
                await pool.check()
            raise

    async def lead_once() -> None:
        async with pool.connection() as leader:
            if not await lead(leader, name, stop, poll_s):
                return
            try:
                epoch = await claim(leader) if claim else 0
                log.info(f"{name}.leading", epoch=epoch)
                wakeup = await Wakeup.listen(leader) if wake_on_events else None
                held_back: float | None = None  # the next short look after a fruitless wake-up
                while not stop.is_set():
                    if not await holds(leader, name):
                        raise LostLeadership(name)
                    if done := await batch(epoch):
                        held_back = None
                        if fill and done < fill[0]:
                            await pause(stop, min(fill[1], done * GATHER_PER_EVENT_S))
                        continue
                    wait = await idle_s() if idle_s else poll_s
                    if held_back is not None:
                        wait = min(wait, held_back)
                        held_back = held_back * 2 if held_back < HELD_BACK_MAX_S else None
                    if wakeup:
                        if await wakeup.wait(wait):
                            held_back = HELD_BACK_S
                    else:
                        await pause(stop, wait)
            finally:
                await step_down(leader, name)

    await resilient(name, term, stop)
