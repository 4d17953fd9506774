"""Group commit: the one-statement appends of concurrent requests in one process, sent together.

Each ``POST /orders`` appends to a stream of its own in one statement, its read rows riding in it
(``Session.save_alone``). Alone, every such statement is a transaction of its own: PostgreSQL pays a statement, a
transaction id and a commit record for each, and the API a round trip. While one request's statement is in flight,
the others that reach their append wait here; once it is done, the first of them sends every append waiting as one
statement (``ledger.append_batch``, read rows included) on its own connection, and each request gets its own
outcome: its events appended, or a conflict of its own stream. A request that finds nothing in flight sends its
append alone, at once, with the very statement it always did, so a quiet gateway waits for nothing; under load,
appends gather while the database works.

A batch is one statement, so it is atomic: it writes every append whose stream was where it was decided, or,
failing, nothing. When it cannot be one statement (a read row cannot ride) or is refused whole by the database (a
constraint), nothing was written, and each request appends alone, as before, where a bad append fails by itself.
When its connection is lost, its outcome is unknown to every request in it, as it would be to a request whose own
statement it was.

Only appends that carry nothing of their own go together: an append guarded by another stream's version (a payment
decided on an order known from the snapshots) or carrying a stored answer (an ``Idempotency-Key``) is sent alone.
Checked row by row in the batch's statement, a guard cost PostgreSQL as much as grouping saved (README, "Measured
figures").
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

import ledger
from commands import handler

#: Appends one statement carries at most: above this many waiting, the next batch takes the rest.
LIMIT = 64


#: The outcome of an append that is to be sent alone, by its caller: the batch it was in could not be one
#: statement, or failed as a whole and wrote nothing.
_ALONE = object()


@dataclass(eq=False)
class _Entry:
    session: handler.Session
    append: ledger.Append
    future: "asyncio.Future[Any]" = field(default_factory=lambda: asyncio.get_running_loop().create_future())


#: Told to the first request still waiting when a batch is done: send the next one.
_LEAD = object()


class Group:
    """The appends waiting while a batch is in flight, in one process's event loop."""

    def __init__(self, limit: int = LIMIT, sent: Callable[[int], None] | None = None) -> None:
        self.limit = limit
        #: Told how many appends each statement carried (the API's metrics).
        self._sent = sent
        self._waiting: list[_Entry] = []
        self._sending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Batches sent, the appends they carried (batches of one included), and those sent back to go alone.
        self.batches = 0
        self.appends = 0
        self.alone = 0

    async def save(self, session: handler.Session, append: ledger.Append) -> list[ledger.Recorded] | None:
        """Append ``append`` (events decided for a stream of its own) with its read rows, alone or with others
        waiting; its recorded events, or None when it must be sent alone by the caller (``_ALONE``).

        Raises:
            ledger.ConcurrencyConflict: its stream moved on; nothing of it was written.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (a server started again): nothing of the old one is waited on
            self._loop, self._waiting, self._sending = loop, [], False
        if not self._sending:  # nothing in flight: it goes at once, alone, as it always did
            self._sending = True
            try:
                self._count(1)
                outcome = await _alone(session, append)
            finally:
                self._hand_over()
            return _outcome(outcome)
        entry = _Entry(session, append)
        self._waiting.append(entry)
        ledger.APPENDED.set(True)  # from here on its outcome may be unknown, as for any append sent
        try:
            told = await entry.future
        except asyncio.CancelledError:
            if entry.future.done() and not entry.future.cancelled() and entry.future.result() is _LEAD:
                self._hand_over()  # it was this one's turn to send: the next still waiting sends instead
            raise
        if told is not _LEAD:
            return _outcome(told)  # another request sent it with its own
        entry.future = loop.create_future()  # for its own outcome, as the leader
        try:
            batch = self._take(entry)
            await self._send(entry.session, batch)
        finally:
            self._hand_over()
        return _outcome(entry.future.result())

    def _take(self, leader: _Entry) -> list[_Entry]:
        """The leader's own append and those waiting behind it, each of a stream not in the batch yet."""
        batch, streams, rest = [leader], {leader.append.stream_id}, []
        for e in self._waiting:
            if e is leader or e.future.done():
                continue
            if len(batch) < self.limit and e.append.stream_id not in streams:
                batch.append(e)
                streams.add(e.append.stream_id)
            else:
                rest.append(e)
        self._waiting = rest
        return batch

    def _hand_over(self) -> None:
        """The first still waiting sends the next batch; with none, the next append goes at once."""
        while self._waiting:
            first = self._waiting[0]
            if not first.future.done():
                first.future.set_result(_LEAD)
                return
            self._waiting.pop(0)  # its request went away
        self._sending = False

    def _count(self, appends: int) -> None:
        self.batches += 1
        self.appends += appends
        if self._sent is not None:
            self._sent(appends)

    async def _send(self, session: handler.Session, batch: list[_Entry]) -> None:
        """One statement for ``batch`` on ``session``'s connection; every entry's future gets its outcome."""
        self._count(len(batch))
        try:
            if len(batch) == 1:
                outcomes = [await _alone(session, batch[0].append)]
            else:
                outcomes = await _together(session, batch)
        except BaseException as exc:  # the leader raises it; the others learn that the outcome is unknown
            failed: BaseException = exc
            if isinstance(exc, asyncio.CancelledError):  # the leader's request went away mid-statement
                failed = psycopg.OperationalError("the statement carrying this append was cancelled")
            for e in batch[1:]:
                _settle(e, failed)
            raise
        for e, outcome in zip(batch, outcomes, strict=True):
            self.alone += outcome is _ALONE
            _settle(e, outcome)


async def _alone(session: handler.Session, append: ledger.Append) -> Any:
    """The lone append, with the statement ``Session.save_alone`` always sent."""
    try:
        recorded = await session.append_alone(append)
    except ledger.ConcurrencyConflict as conflict:
        return conflict
    return _ALONE if recorded is None else recorded


async def _together(session: handler.Session, batch: Sequence[_Entry]) -> list[Any]:
    """The appends of ``batch`` in one statement: each one's recorded events, or its conflict; every one
    ``_ALONE`` when the statement could not be made or failed whole (and wrote nothing)."""
    if not ledger.quiet(session.conn):
        return [_ALONE] * len(batch)
    try:
        appended = await session.append_together([e.append for e in batch], one_statement=True)
    except handler.NotOneStatement:
        return [_ALONE] * len(batch)
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.OperationalError) or session.conn.closed:
            raise  # the connection is gone: whether it committed is unknown
        return [_ALONE] * len(batch)  # refused whole, so nothing written: each goes alone, a bad one by itself
    return [
        appended.get(e.append.stream_id) or ledger.ConcurrencyConflict(e.append.stream_id, e.append.expected_version)
        for e in batch
    ]


def _settle(entry: _Entry, outcome: Any) -> None:
    if entry.future.done():
        return
    if isinstance(outcome, BaseException) and not isinstance(outcome, ledger.ConcurrencyConflict):
        entry.future.set_exception(outcome)
    else:
        entry.future.set_result(outcome)


def _outcome(told: Any) -> list[ledger.Recorded] | None:
    if told is _ALONE:
        return None
    if isinstance(told, ledger.ConcurrencyConflict):
        raise told
    assert isinstance(told, list)
    return told
