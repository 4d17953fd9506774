"""Load, decide, append: the one generic command handler, and the session it runs in."""

import functools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import psycopg

import ledger
from commands.catalog import CODEC
from commands.records import quick

if TYPE_CHECKING:
    from commands.grouping import Group

#: What the database makes up at the append, on events not appended yet (inline projections never read it).
_PLACEHOLDER_AT = datetime.min.replace(tzinfo=UTC)
#: A statement (text, parameters) written to take effect only ``ledger.IF_APPENDED``, to ride in an append.
Statement = tuple[str, Sequence[Any]]
#: Given the events a command decided, statements to commit with their append, in its very statement.
Also = Callable[[list[Any]], Sequence[Statement]]


class NotOneStatement(Exception):
    """A batch that had to be one statement could not be: its inline projections cannot ride in the append."""


class Projector(Protocol):
    """Inline projections, run with the append so the API reads its own writes."""

    async def __call__(self, conn: psycopg.AsyncConnection[Any], events: Sequence[ledger.Recorded]) -> None:
        """Apply appended events, in the append's transaction."""

    async def riding(self, events: Sequence[ledger.Recorded]) -> list[tuple[str, tuple[Any, ...]]] | None:
        """The same as statements to ride in the append itself, or None when that cannot be done."""

    async def riding_batch(
        self, conn: psycopg.AsyncConnection[Any], batch: Sequence[tuple[str, Sequence[ledger.Recorded]]]
    ) -> list[tuple[str, list[list[Any]]]] | None:
        """The same for the appends of a batch, to ride in ``ledger.append_batch``, or None."""


class Snapshots:
    """The folded states of the streams of some aggregates that this process appended or read lately, with their
    versions; the least recently used are dropped past ``size``. Only ever a hint: a command decided on one
    appends guarded by its version (``ledger.append(..., guard=...)``), so a state that moved on meanwhile (in
    another process, say) is found out and read again, never acted on."""

    def __init__(self, deciders: Iterable[ModuleType], size: int = 10_000) -> None:
        self._deciders = frozenset(deciders)
        self._states: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self.size = size

    def keeps(self, decider: ModuleType) -> bool:
        return decider in self._deciders

    def get(self, stream_id: str) -> tuple[Any, int] | None:
        found = self._states.get(stream_id)
        if found is not None:
            self._states.move_to_end(stream_id)
        return found

    def put(self, stream_id: str, state: Any, version: int) -> None:
        self._states[stream_id] = (state, version)
        self._states.move_to_end(stream_id)
        if len(self._states) > self.size:
            self._states.popitem(last=False)

    def forget(self, stream_id: str) -> None:
        self._states.pop(stream_id, None)


@dataclass
class Session:
    """A connection plus what every append carries: inline projections and metadata (merchant, request); and
    the process's ``snapshots``, if it keeps any."""

    conn: psycopg.AsyncConnection[Any]
    project: Projector
    metadata: dict[str, Any] = field(default_factory=dict)
    snapshots: Snapshots | None = None
    #: Where its lone appends wait to go with others' while one is in flight (``commands.grouping``), if anywhere.
    group: "Group | None" = None

    async def snapshot(self, decider: ModuleType, stream_id: str) -> tuple[Any, int, bool]:
        """The folded state of a stream and its version, from the snapshots when they hold it (then True: an
        append decided on it must be guarded by that version), else loaded (and kept, for next time)."""
        if self.snapshots is not None and (found := self.snapshots.get(stream_id)) is not None:
            return (*found, True)
        state, version = await self.load(decider, stream_id)
        self.remember(decider, stream_id, state, version)
        return state, version, False

    def remember(
        self, decider: ModuleType, stream_id: str, state: Any, version: int, appended: Sequence[Any] = ()
    ) -> None:
        """Keep a stream's state as of ``version`` with ``appended`` folded in (and its version moved on by
        them), when the snapshots keep ``decider``'s; folded only then."""
        if self.snapshots is not None and self.snapshots.keeps(decider):
            state = functools.reduce(decider.evolve, appended, state)
            self.snapshots.put(stream_id, state, version + len(appended))

    async def load(self, decider: ModuleType, stream_id: str) -> tuple[Any, int]:
        """The folded state of a stream and its version."""
        return _fold(decider, await ledger.read_stream(self.conn, stream_id))

    async def load_many(self, decider: ModuleType, stream_ids: Sequence[str]) -> dict[str, tuple[Any, int]]:
        """``load`` of several streams of one aggregate, in one statement."""
        found = await ledger.read_streams(self.conn, stream_ids)
        return {stream_id: _fold(decider, past) for stream_id, past in found.items()}

    def _encode(self, events: Sequence[Any], metadata: dict[str, Any] | None = None) -> list[ledger.NewEvent]:
        """Decided events as events to append, carrying ``metadata`` (the session's by default)."""
        meta = self.metadata if metadata is None else metadata
        return [ledger.NewEvent(*CODEC.encode(e), metadata=meta) for e in events]

    async def save(
        self,
        stream_id: str,
        events: Sequence[Any],
        expected_version: int,
        also: Sequence[Statement] = (),
        guard: tuple[str, int] | None = None,
    ) -> list[ledger.Recorded]:
        """Append decided events and project them, in the caller's transaction: in one statement when the inline
        projections can ride in the append, else the append and then the projections. ``also`` rides in the
        append either way.

        Raises:
            ledger.ConcurrencyConflict: the stream moved on since it was loaded.
        """
        new = self._encode(events)
        rides = await self._riding(stream_id, new, expected_version)
        recorded = await ledger.append(
            self.conn, stream_id, new, expected_version=expected_version, also=[*(rides or ()), *also], guard=guard
        )
        if rides is None:
            await self.project(self.conn, recorded)
        return recorded

    async def save_alone(
        self,
        stream_id: str,
        events: Sequence[Any],
        expected_version: int,
        also: Sequence[Statement] = (),
        guard: tuple[str, int] | None = None,
    ) -> bool:
        """Append and project decided events in one statement, which needs no transaction; False (and nothing
        written) when the inline projections cannot ride in the append, or when the server may be gone: this
        statement commits as it is sent, so losing the connection now would leave its outcome unknown, where a
        transaction's ``BEGIN`` finds out first (an outage then answers "unavailable", not "commit unknown").
        With a ``group``, an append with neither ``also`` nor ``guard`` may go in one statement with the appends
        of other requests in flight (``commands.grouping``), on one of their connections.

        Raises:
            ledger.ConcurrencyConflict: the stream moved on since it was loaded.
        """
        if not ledger.quiet(self.conn):
            return False
        append = ledger.Append(stream_id, self._encode(events), expected_version)
        if self.group is not None and not also and guard is None:
            # A stored answer rides in its own append's statement, and so does a guard (``commands.grouping``).
            return await self.group.save(self, append) is not None
        return await self.append_alone(append, also, guard) is not None

    async def append_alone(
        self, append: ledger.Append, also: Sequence[Statement] = (), guard: tuple[str, int] | None = None
    ) -> list[ledger.Recorded] | None:
        """``append`` (encoded events) in one statement, its inline projections and ``also`` riding in it; None,
        and nothing written, when the projections cannot ride.

        Raises:
            ledger.ConcurrencyConflict: the stream (or the guarding one) moved on.
        """
        a = append
        if (rides := await self._riding(a.stream_id, a.events, a.expected_version)) is None:
            return None
        return await ledger.append(
            self.conn, a.stream_id, a.events, expected_version=a.expected_version, also=[*rides, *also], guard=guard
        )

    async def save_batch(
        self, batch: Sequence["Saving"], *, one_statement: bool = False
    ) -> dict[str, list[ledger.Recorded]]:
        """Append and project each of ``batch`` (one each of distinct streams) whose stream has not moved on, in
        one statement when the inline projections can ride in it, else one by one; returns what was appended, by
        stream. A stream that moved on gets nothing and holds up no other.

        ``one_statement``: for a caller outside a transaction, which relies on the batch being atomic by itself;
        raises ``NotOneStatement`` (writing nothing) where the projections cannot ride."""
        appends = [ledger.Append(s.stream_id, self._encode(s.events, s.metadata), s.version) for s in batch]
        return await self.append_together(appends, one_statement=one_statement)

    async def append_together(
        self, appends: Sequence[ledger.Append], *, one_statement: bool = False
    ) -> dict[str, list[ledger.Recorded]]:
        """``save_batch`` of appends already encoded (each with its own metadata)."""
        pending = [(a.stream_id, _pending(a.stream_id, a.events, a.expected_version)) for a in appends]
        if (rides := await self.project.riding_batch(self.conn, pending)) is not None:
            return await ledger.append_batch(self.conn, appends, also=rides)
        if one_statement:
            raise NotOneStatement([a.stream_id for a in appends])
        out = {}
        for a in appends:
            try:
                recorded = await ledger.append(self.conn, a.stream_id, a.events, expected_version=a.expected_version)
            except ledger.ConcurrencyConflict:
                continue
            await self.project(self.conn, recorded)
            out[a.stream_id] = recorded
        return out

    async def _riding(
        self, stream_id: str, new: Sequence[ledger.NewEvent], expected_version: int
    ) -> list[tuple[str, tuple[Any, ...]]] | None:
        """The inline projections of events about to be appended, as statements to ride in their append."""
        return await self.project.riding(_pending(stream_id, new, expected_version))


@quick
@dataclass(frozen=True)
class Saving:
    """One stream's part of ``Session.save_batch``: decided events, the version they were decided at, and the
    metadata they carry."""

    stream_id: str
    events: Sequence[Any]
    version: int
    metadata: dict[str, Any]


def _fold(decider: ModuleType, past: Sequence[ledger.Recorded]) -> tuple[Any, int]:
    """A stream's events folded into its state, and its version."""
    events = (CODEC.decode(r.type, r.data) for r in past)
    return functools.reduce(decider.evolve, events, decider.initial_state), ledger.version_of(past)


def _pending(stream_id: str, new: Sequence[ledger.NewEvent], expected_version: int) -> list[ledger.Recorded]:
    """Events about to be appended, as recorded ones: what the database makes up is a placeholder."""
    return [
        ledger.make_recorded((0, 0, e.event_id, stream_id, v, e.type, e.data, e.metadata, _PLACEHOLDER_AT))
        for v, e in enumerate(new, expected_version + 1)
    ]


async def handle(
    session: Session,
    decider: ModuleType,
    stream_id: str,
    command: Any,
    *,
    new_stream: bool = False,
    serialize: bool = False,
    attempts: int = 5,
    also: Also | None = None,
    guard: tuple[str, int] | None = None,
) -> list[Any]:
    """Decide ``command`` against the stream's current state and append what happened.

    A lost race reloads and decides again (the new state may make the command a no-op or invalid).
    ``new_stream`` says the caller just drew a fresh random id, so the first attempt skips loading an empty
    stream (and, where the inline projections allow, appends and projects in one statement without a
    transaction); should the stream exist after all, the append conflicts and the next attempt loads it.
    ``serialize`` locks the stream before loading it, for streams that many writers hit at once (the refunds of
    one payment): they then wait their turn instead of losing races until ``attempts`` run out. ``also`` gives,
    for the decided events, statements that commit in their append's statement (a request's stored answer).
    ``guard`` (stream id, version): the command was built from that other stream's state as of that version, so
    the append happens only while it is still there; when it moved on, ConcurrencyConflict is raised at once, for
    the caller to read it again and build the command anew.

    Raises:
        DomainError: the command breaks a rule.
        ledger.ConcurrencyConflict: every attempt lost a race, or the guarding stream moved on.
    """
    for attempt in range(attempts):
        try:
            events, version, state = None, 0, decider.initial_state
            if new_stream and attempt == 0:
                events = decider.decide(state, command)
                if await session.save_alone(stream_id, events, version, also(events) if also else (), guard):
                    session.remember(decider, stream_id, state, version, events)
                    return list(events)
            # No pipeline mode: it saved round trips but cost the API more CPU than they did (README, issue 12).
            async with session.conn.transaction():
                if events is None:
                    if serialize:
                        await ledger.lock_stream(session.conn, stream_id)
                    state, version = await session.load(decider, stream_id)
                    events = decider.decide(state, command)
                await session.save(stream_id, events, version, also(events) if also else (), guard)
            session.remember(decider, stream_id, state, version, events)
            return list(events)
        except ledger.ConcurrencyConflict:
            if attempt == attempts - 1 or guard is not None:
                raise
    raise AssertionError("unreachable")
