"""Column arrays for ``unnest`` statements, written straight into PostgreSQL's binary array format.

psycopg dumps a list element by element through its generic machinery: a dumper looked up, called and its
output framed for each one. The batch statements (a batch append, a projection's rows) send thousands of
elements a second, and py-spy put that dumping at a sixth of the worker's CPU in a burst. ``encode`` writes a
whole column of the common element types in one pass (the bytes psycopg would write, which the tests check)
and hands psycopg a ``bytes`` it sends as it is. The id lists of the hot reads (``= ANY(%s)``) go the same way:
psycopg's text form looks over each element with a regular expression, a few thousand instructions an id.
Other types, and any column holding a value these writers do not take (a number out of range, text beyond ASCII
or with a NUL, a value JSON cannot hold), stay lists, for psycopg to dump or refuse as it always did.
"""

import struct
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from ledger import jsontext

_HEAD = struct.Struct("!iiiii")  # dimensions, has nulls, element oid; then the one dimension's length, lower bound
_EMPTY = struct.Struct("!iii")
_LENGTH = struct.Struct("!i").pack
_INT4 = struct.Struct("!ii").pack
_INT8 = struct.Struct("!iq").pack
_NULL = _LENGTH(-1)


def _text(value: str) -> bytes:
    # ASCII only: its bytes are the same in every client encoding, where psycopg encodes the rest in the
    # connection's. A NUL PostgreSQL refuses in text, and psycopg before it.
    if not value.isascii() or "\x00" in value:
        raise ValueError("not plain ASCII text")
    data = value.encode()
    return _LENGTH(len(data)) + data


def _uuid(value: uuid.UUID | str) -> bytes:
    if isinstance(value, uuid.UUID):
        return _LENGTH(16) + value.bytes
    # Only the canonical spelling: Python's UUID takes some that PostgreSQL refuses ("urn:uuid:…", stray
    # hyphens). Its 32 hex digits read by fromhex, a fifth of the time of making a UUID; a stray hyphen or
    # space (which fromhex skips between digit pairs) leaves fewer than 16 bytes.
    if len(value) != 36 or value[8] + value[13] + value[18] + value[23] != "----":
        raise ValueError("not a canonical uuid")
    data = bytes.fromhex(value.replace("-", ""))
    if len(data) != 16:
        raise ValueError("not a canonical uuid")
    return _LENGTH(16) + data


def _jsonb(value: Any) -> bytes:
    # A Jsonb wrapper may bring its own dumps (text that is JSON already, say), as psycopg honours. Unwrapped,
    # only a document: psycopg would send a bare string as text, for PostgreSQL to parse as JSON.
    if isinstance(value, Jsonb):
        data = (value.dumps or jsontext.dumps)(value.obj)
    elif isinstance(value, dict | list):
        data = jsontext.dumps(value)
    else:
        raise TypeError("not a JSON document")
    if isinstance(data, str):
        data = data.encode()
    return _LENGTH(len(data) + 1) + b"\x01" + data  # jsonb's binary form: a version byte, then the text


def _bool(value: bool) -> bytes:
    if type(value) is not bool:
        raise TypeError("not a bool")
    return b"\x00\x00\x00\x01\x01" if value else b"\x00\x00\x00\x01\x00"


def _int4(value: int) -> bytes:
    return _INT4(4, value)  # struct.error out of range


def _int8(value: int) -> bytes:
    return _INT8(8, value)


#: SQL element type → its element writer (length and value) and the array class psycopg sends as it is.
_WRITERS: dict[str, tuple[Callable[[Any], bytes], type[bytes]]] = {}


def _register(sql_type: str, write: Callable[[Any], bytes]) -> None:
    info = psycopg.postgres.types[sql_type]
    array = type(f"{sql_type.title()}Array", (bytes,), {"__slots__": (), "element_oid": info.oid})
    dumper = type(
        f"{sql_type.title()}ArrayDumper",
        (Dumper,),
        {"format": Format.BINARY, "oid": info.array_oid, "dump": lambda self, obj: obj},
    )
    psycopg.adapters.register_dumper(array, dumper)
    _WRITERS[sql_type] = write, array


for _name, _write in {
    "text": _text,
    "uuid": _uuid,
    "jsonb": _jsonb,
    "bool": _bool,
    "int4": _int4,
    "int8": _int8,
}.items():
    _register(_name, _write)

#: The names ``format_type`` gives the same types.
_WRITERS |= {"boolean": _WRITERS["bool"], "integer": _WRITERS["int4"], "bigint": _WRITERS["int8"]}


def encode(sql_type: str, values: Sequence[Any]) -> bytes | list[Any]:
    """``values`` as the parameter of a ``%b::{sql_type}[]`` placeholder: a one-dimensional array, None a null
    element; as a list, for psycopg, where ``sql_type`` is not one written here."""
    if (found := _WRITERS.get(sql_type)) is None:
        return list(values)
    write, array = found
    if not values:
        return array(_EMPTY.pack(0, 0, array.element_oid))  # type: ignore[attr-defined]
    try:
        body = [_NULL if v is None else write(v) for v in values]
    except (struct.error, AttributeError, TypeError, ValueError):
        return list(values)
    head = _HEAD.pack(1, any(v is None for v in values), array.element_oid, len(values), 1)  # type: ignore[attr-defined]
    return array(head + b"".join(body))
