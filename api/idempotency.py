"""Idempotency keys: a creating POST runs once per (merchant, ``Idempotency-Key``), and its first complete
answer is replayed byte for byte for 24 hours.

The stored answer commits with the command's events, so the objects a request created and the record that
names them commit or vanish together. Two ways:

- ``riding`` (creating an order or a payment): the answer is known once the command is decided, so it rides in
  the append's own statement (``commands.handle(..., also=...)``) as a plain INSERT of the key's row. A second
  request with the key fails that statement on the row's primary key (waiting, if the first is still being
  written, for it to commit), writes nothing, and replays the first answer. No lock and no transaction.
- ``once`` (everything else): the answer is written in the same transaction as the command's events
  (``commands.handle`` nests as a savepoint inside it). A transaction-scoped advisory lock on (merchant, key)
  makes a concurrent second request wait for the first and then replay its answer; one that waits too long
  gets 409 and never runs the work itself.

A request that fails (validation, a broken rule) stores nothing, so it may be retried; when its key already has
an answer, that answer is replayed instead.
"""

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool
from starlette.responses import Response

import ledger
from commands.errors import Conflict, DomainError, ValidationFailed
from ledger import statements

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
#: How long an answer is kept and replayed (SPEC.md).
TTL = timedelta(hours=24)
#: How long a second request waits for the first one holding the same key before it gets 409.
WAIT = timedelta(seconds=10)
MAX_KEY_LENGTH = 255

Clock = Callable[[], datetime]
Work = Callable[[], Awaitable[Response]]
#: The statements that store ``response`` as the key's answer, to ride in the append of the work that made it.
Keep = Callable[[Response], list[tuple[str, tuple[Any, ...]]]]
#: Work that keeps its answer itself: ``keep`` is None when the request has no key.
KeepingWork = Callable[["Keep | None"], Awaitable[Response]]
#: The key's row (the only unique key of idempotency_keys): a second request's stored answer collides on it.
_KEY_CONSTRAINT = "idempotency_keys_pkey"


class KeyMalformed(ValidationFailed):
    def __init__(self) -> None:
        super().__init__(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters", field=HEADER)


class KeyReused(ValidationFailed):
    """Raised when a key comes back with another method, path or body than the request it first named."""

    def __init__(self) -> None:
        super().__init__(
            f"{HEADER} was already used with a different request (method, path or body); use a new key",
            field=HEADER,
        )


class KeyInFlight(Conflict):
    """Raised when the first request with this key is still running after ``WAIT``."""

    def __init__(self) -> None:
        super().__init__(f"A request with this {HEADER} is still in progress; retry later", field=HEADER)


@dataclass(frozen=True)
class Fingerprint:
    """What makes two requests "the same": method, path, and the body as canonical JSON."""

    method: str
    path: str
    body_hash: str

    @classmethod
    def of(cls, method: str, path: str, body: bytes) -> "Fingerprint":
        try:
            canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body.strip() else b""
        except orjson.JSONDecodeError:
            canonical = body
        return cls(method.upper(), path, hashlib.sha256(canonical).hexdigest())


@dataclass(frozen=True)
class Stored:
    fingerprint: Fingerprint
    status: int
    body: bytes


def replay(stored: Stored) -> Response:
    return Response(
        stored.body, status_code=stored.status, media_type="application/json", headers={"Idempotent-Replayed": "true"}
    )


class IdempotentRequest:
    """One request that may carry an ``Idempotency-Key``; ``once`` runs its work at most once per key."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        key: str | None,
        fingerprint: Fingerprint | Callable[[], Fingerprint],
        clock: Clock,
        wait: timedelta = WAIT,
    ) -> None:
        if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
            raise KeyMalformed()
        self.conn = conn
        self.key = key
        self._fingerprint = fingerprint
        self.clock = clock
        self.wait = wait

    @property
    def fingerprint(self) -> Fingerprint:
        """Worked out when first needed: a request without a key never needs it."""
        if not isinstance(self._fingerprint, Fingerprint):
            self._fingerprint = self._fingerprint()
        return self._fingerprint

    async def once(self, merchant_id: str, work: Work) -> Response:
        """``work()``'s response, or the one stored for this key within ``TTL`` (scoped to ``merchant_id``).

        Raises:
            KeyReused: the key named a different request.
            KeyInFlight: the first request with this key did not finish within ``wait``.
        """
        if self.key is None:
            return await work()
        now = self.clock()
        # Answers never change once stored, so a replay needs neither a transaction nor the lock.
        if (stored := await find(self.conn, merchant_id, self.key, now)) is not None:
            return self._replay(stored)
        try:
            # Pipeline mode sends BEGIN, the lock and the second look in one round trip.
            async with self.conn.pipeline(), self.conn.transaction():
                await _lock(self.conn, merchant_id, self.key, self.wait)
                if (stored := await find(self.conn, merchant_id, self.key, now)) is not None:
                    return self._replay(stored)
                response = await work()
                if 200 <= response.status_code < 300:
                    await _store(self.conn, merchant_id, self.key, self.fingerprint, response, now)
                return response
        except psycopg.errors.LockNotAvailable:
            raise KeyInFlight() from None

    async def riding(self, merchant_id: str, work: KeepingWork) -> Response:
        """``once`` for work whose append can carry its answer: ``work(keep)`` passes the statements
        ``keep(response)`` gives to the append that makes ``response`` (``keep`` is None without a key).

        Raises:
            KeyReused: the key named a different request.
            KeyInFlight: the key's row could not be written nor its answer found (it expired again and again).
        """
        key = self.key
        if key is None:
            return await work(None)
        now = self.clock()

        def keep(response: Response) -> list[tuple[str, tuple[Any, ...]]]:
            row = _row(merchant_id, key, self.fingerprint, response, now)
            return [(_KEEP_SQL, row)]

        for _ in range(3):
            try:
                return await work(keep)
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name != _KEY_CONSTRAINT:
                    raise
            except DomainError:  # a retry may be refused now (its order is paid) where its first try succeeded
                if (stored := await find(self.conn, merchant_id, key, now)) is not None:
                    return self._replay(stored)
                raise
            if (stored := await find(self.conn, merchant_id, key, now)) is not None:
                return self._replay(stored)
            # The key's row had expired, but the purger had not removed it yet: now it is new again.
            await self.conn.execute(
                "DELETE FROM idempotency_keys WHERE merchant_id = %s AND key = %s AND expires_at <= %s",
                (merchant_id, key, now),
            )
        raise KeyInFlight()

    def _replay(self, stored: Stored) -> Response:
        if stored.fingerprint != self.fingerprint:
            raise KeyReused()
        return replay(stored)


_COLUMNS = """merchant_id, key, request_method, request_path, request_hash, response_status, response_body,
    created_at, expires_at"""
#: The key's answer, written by the statement of the append that made it: its primary key refuses a second one.
_KEEP_SQL = f"""INSERT INTO idempotency_keys ({_COLUMNS})
    SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s WHERE {ledger.IF_APPENDED}"""


def _row(merchant_id: str, key: str, fingerprint: Fingerprint, response: Response, now: datetime) -> tuple[Any, ...]:
    return (
        merchant_id,
        key,
        fingerprint.method,
        fingerprint.path,
        fingerprint.body_hash,
        response.status_code,
        bytes(response.body),
        now,
        now + TTL,
    )


async def _lock(conn: psycopg.AsyncConnection[Any], merchant_id: str, key: str, wait: timedelta) -> None:
    """Hold (merchant, key) until the transaction ends; wait at most ``wait`` for a request holding it."""
    await conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(wait.total_seconds() * 1000)}ms",))
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"idempotency:{merchant_id}:{key}",))
    # Only the wait for the key is bounded; the command's own row locks keep the configured timeout.
    await conn.execute("SET LOCAL lock_timeout TO DEFAULT")


async def find(conn: psycopg.AsyncConnection[Any], merchant_id: str, key: str, now: datetime) -> Stored | None:
    """The answer stored for (merchant, key), unless it expired by ``now``."""
    rows = await statements.fetch(
        conn,
        """SELECT request_method, request_path, request_hash, response_status, response_body
           FROM idempotency_keys WHERE merchant_id = %s AND key = %s AND expires_at > %s""",
        (merchant_id, key, now),
    )
    if not rows:
        return None
    row = rows[0]
    return Stored(Fingerprint(row[0], row[1], row[2]), row[3], bytes(row[4]))


async def _store(
    conn: psycopg.AsyncConnection[Any],
    merchant_id: str,
    key: str,
    fingerprint: Fingerprint,
    response: Response,
    now: datetime,
) -> None:
    # An expired row the purger has not reached yet is simply replaced: after expiry the key is new again.
    await conn.execute(
        f"""INSERT INTO idempotency_keys AS k ({_COLUMNS})
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (merchant_id, key) DO UPDATE SET
               request_method = EXCLUDED.request_method, request_path = EXCLUDED.request_path,
               request_hash = EXCLUDED.request_hash, response_status = EXCLUDED.response_status,
               response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at,
               expires_at = EXCLUDED.expires_at
           WHERE k.expires_at <= EXCLUDED.created_at""",
        _row(merchant_id, key, fingerprint, response, now),
    )


async def purge_expired(conn: psycopg.AsyncConnection[Any], now: datetime) -> int:
    """Delete every answer that expired by ``now``; returns how many."""
    cur = await conn.execute("DELETE FROM idempotency_keys WHERE expires_at <= %s", (now,))
    return cur.rowcount


async def purge_periodically(
    pool: AsyncConnectionPool[Any], stop: asyncio.Event, clock: Clock, interval_s: float = 300.0
) -> None:
    """Purge expired keys every ``interval_s`` until ``stop`` is set (run by one background process); an outage
    only delays it (expired keys are never replayed anyway, only kept a little longer)."""

    async def purge_forever() -> None:
        while not stop.is_set():
            async with pool.connection() as conn:
                if purged := await purge_expired(conn, clock()):
                    log.info("idempotency.purged", keys=purged)
            await ledger.pause(stop, interval_s)

    await ledger.resilient("idempotency_purge", purge_forever, stop)
