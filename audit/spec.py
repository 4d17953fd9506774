"""The hash chain's specification: the canonical bytes of an event and how hashes are formed.

This module is the only code the chainer (ledger/chain.py) and the verifiers share; the README states the same
rules in prose so that anyone can reimplement them.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

try:  # a verifier needs only the standard library; orjson, where installed, writes the same bytes faster
    import orjson
except ImportError:  # pragma: no cover -- the gateway always has it
    orjson = None  # type: ignore[assignment]

#: prev_hash of the first event of the chain.
GENESIS = bytes(32)
#: The fields of an event that the chain covers, in the order they are listed in the README.
FIELDS = ("position", "event_id", "stream_id", "stream_version", "type", "recorded_at", "data", "metadata")


def timestamp(at: datetime) -> str:
    """``recorded_at`` as the chain spells it: UTC, always six fractional digits, a literal Z."""
    global _second
    if at.tzinfo is not UTC:
        return _spelt(at)
    # In UTC already (as the gateway's connections read it): the date and time of day are spelt once a second,
    # a third of the instructions of spelling it all each time. Read once: another thread may replace it.
    key, last = (at.year, at.month, at.day, at.hour, at.minute, at.second), _second
    if last[0] != key:
        last = _second = (key, _spelt(at)[:-8])  # less ".ffffffZ"
    return f"{last[1]}.{at.microsecond:06d}Z"


def _spelt(at: datetime) -> str:
    utc = at.astimezone(UTC)
    if utc.year < 1000:  # isoformat pads the year to four digits, strftime's %Y does not
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"  # less its "+00:00"


#: The last second ``timestamp`` spelt: (year, month, day, hour, minute, second) and its text.
_second: tuple[tuple[int, ...], str] = ((), "")


def canonical(
    *,
    position: int,
    event_id: str,
    stream_id: str,
    stream_version: int,
    type: str,
    recorded_at: datetime | str,
    data: Any,
    metadata: Any,
) -> bytes:
    """The canonical bytes of one event as stored: a JSON object of exactly ``FIELDS``, keys sorted by code
    point at every depth, no insignificant whitespace, non-ASCII characters as UTF-8 (not escaped)."""
    return dumps(_document(position, event_id, stream_id, stream_version, type, recorded_at, data, metadata))


def canonical_text(
    *,
    position: int,
    event_id: str,
    stream_id: str,
    stream_version: int,
    type: str,
    recorded_at: datetime | str,
    data: str,
    metadata: str,
) -> bytes:
    """``canonical`` of an event whose data and metadata are given as JSON text, as stored. Where orjson is
    installed each is parsed once by it and the whole event looked over once for a float (or an integer past
    64 bits, which orjson reads as one); parsing by ``json.loads`` and then calling ``canonical`` looks over
    each document twice."""
    head = (position, event_id, stream_id, stream_version, type, recorded_at)
    if orjson is not None:
        try:  # refused either way: nesting past orjson's depths (1,024 to read, 255 to write)
            doc = _document(*head, orjson.loads(data), orjson.loads(metadata))
            if not has_float(doc):
                return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass
    return dumps(_document(*head, json.loads(data), json.loads(metadata)))


def _document(
    position: int,
    event_id: str,
    stream_id: str,
    stream_version: int,
    type_: str,
    recorded_at: datetime | str,
    data: Any,
    metadata: Any,
) -> dict[str, Any]:
    """The event as the JSON object the chain covers."""
    return {
        "position": position,
        "event_id": str(event_id),
        "stream_id": stream_id,
        "stream_version": stream_version,
        "type": type_,
        "recorded_at": recorded_at if isinstance(recorded_at, str) else timestamp(recorded_at),
        "data": data,
        "metadata": metadata,
    }


def dumps(value: Any) -> bytes:
    """``value`` as canonical JSON: what ``reference_dumps`` writes, but several times faster where orjson writes
    the very same bytes."""
    return orjson_exact(value, sort_keys=True) or reference_dumps(value)


def orjson_exact(value: Any, *, sort_keys: bool = False) -> bytes | None:
    """orjson's compact JSON for ``value`` where it holds the same values as the standard library's would: for
    every value without a float (orjson spells 1e-05 as 0.00001, and NaN as null) and without an integer past
    64 bits (orjson refuses those); None otherwise, and where orjson is not installed."""
    if orjson is None or has_float(value):
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except orjson.JSONEncodeError:
        return None


#: The exact types of the scalars that are never a float (subclasses take the loop, which ``isinstance`` covers).
_PLAIN = frozenset({str, int, bool, type(None)})


def has_float(value: Any) -> bool:
    """Whether a float is anywhere in ``value`` (in its dicts' values and its lists, as JSON nests). It runs on
    every event chained and every jsonb value the gateway writes or reads (``ledger.jsontext``), so a level whose
    items are all plain scalars (most are) is settled by one pass over their types in C: a quarter of the
    instructions of the loop, which takes the rest. Loops, not ``any()`` over a generator, and no call per
    scalar."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return isinstance(value, float)
    if _PLAIN.issuperset(map(type, value)):
        return False
    for v in value:
        if isinstance(v, (dict, list, tuple)):
            if has_float(v):
                return True
        elif isinstance(v, float):
            return True
    return False


def reference_dumps(value: Any) -> bytes:
    """The definition of canonical JSON here: the standard library's, keys sorted, compact, UTF-8 unescaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def link(prev_hash: bytes, event_bytes: bytes) -> bytes:
    """The chain hash of an event: sha256(prev_hash || canonical(event))."""
    return hashlib.sha256(prev_hash + event_bytes).digest()


def leaf(event_bytes: bytes) -> bytes:
    """The event's Merkle leaf hash (RFC 6962): sha256(0x00 || canonical(event))."""
    return hashlib.sha256(b"\x00" + event_bytes).digest()
