"""Errors of the event store."""


class LedgerError(Exception):
    """Base of every event-store error."""


class ConcurrencyConflict(LedgerError):
    """Raised when a stream's version is no longer the one the writer read: somebody else decided first."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(f"stream {stream_id!r} is no longer at version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


class UnknownEventType(LedgerError):
    """Raised when a stored type string has no registered class."""
