"""The event store: append with optimistic concurrency, read a stream, read everything in commit order."""

from ledger.codec import Codec, DomainEvent
from ledger.errors import ConcurrencyConflict, LedgerError, UnknownEventType
from ledger.follower import (
    LostLeadership,
    Wakeup,
    backoff_s,
    follow,
    holds,
    lead,
    pause,
    resilient,
    step_down,
    try_lead,
)
from ledger.store import (
    APPENDED,
    Cursor,
    NewEvent,
    Recorded,
    append,
    lock_stream,
    read_all,
    read_stream,
    stream_visible,
    version_of,
)

__all__ = [
    "APPENDED",
    "Codec",
    "ConcurrencyConflict",
    "Cursor",
    "DomainEvent",
    "LedgerError",
    "LostLeadership",
    "NewEvent",
    "Recorded",
    "UnknownEventType",
    "Wakeup",
    "append",
    "backoff_s",
    "follow",
    "holds",
    "lead",
    "lock_stream",
    "pause",
    "read_all",
    "read_stream",
    "resilient",
    "step_down",
    "stream_visible",
    "try_lead",
    "version_of",
]
