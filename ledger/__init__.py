"""The event store: append with optimistic concurrency, read a stream, read everything in commit order."""

from ledger.codec import Codec, DomainEvent
from ledger.errors import ConcurrencyConflict, LedgerError, UnknownEventType
from ledger.follower import Wakeup, lead, pause, step_down, try_lead
from ledger.store import (
    Cursor,
    NewEvent,
    Recorded,
    append,
    lock_stream,
    read_all,
    read_stream,
    read_visible,
    version_of,
)

__all__ = [
    "Codec",
    "ConcurrencyConflict",
    "Cursor",
    "DomainEvent",
    "LedgerError",
    "NewEvent",
    "Recorded",
    "UnknownEventType",
    "Wakeup",
    "append",
    "lead",
    "lock_stream",
    "pause",
    "read_all",
    "read_stream",
    "read_visible",
    "step_down",
    "try_lead",
    "version_of",
]
