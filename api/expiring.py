"""A small in-process cache whose entries expire, bounded so that a flood of new keys (random API keys, new
client addresses) cannot grow the process without end."""

import enum
import time
from typing import Generic, Literal, TypeVar

V = TypeVar("V")


class _Missing(enum.Enum):
    MISSING = 0


#: What ``Expiring.get`` returns for a key with no live entry (a cached value may itself be None).
MISSING = _Missing.MISSING


class Expiring(Generic[V]):
    """At most ``max_keys`` entries, each live for ``ttl_s``: when full, expired entries go first, then all."""

    def __init__(self, ttl_s: float, max_keys: int) -> None:
        self._ttl = ttl_s
        self._max_keys = max_keys
        self._entries: dict[str, tuple[float, V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | Literal[_Missing.MISSING]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return MISSING
        return entry[1]

    def put(self, key: str, value: V) -> None:
        now = time.monotonic()
        if len(self._entries) >= self._max_keys:
            self._entries = {k: e for k, e in self._entries.items() if e[0] >= now}
            if len(self._entries) >= self._max_keys:
                self._entries.clear()
        self._entries[key] = (now + self._ttl, value)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)
