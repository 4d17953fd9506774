"""jsonb both ways, as the whole process sends and reads it (``install``): by orjson, several times faster than
the standard library, wherever it gives the same values; by the standard library where it would not."""

import json
from typing import Any

import orjson
from psycopg.types.json import set_json_dumps, set_json_loads

from audit.spec import orjson_exact

#: Every digit made a 0, so that 19 zeros in a row are 19 digits in a row: maybe an integer beyond 64 bits, which
#: orjson would read as a float. A translation and a substring search cost a third of what a regex search does.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def loads(text: str | bytes) -> Any:
    """jsonb as Python: the standard parser where a number may be too long for orjson, so the values are the
    same either way."""
    if isinstance(text, str):
        text = text.encode()
    return json.loads(bytes(text)) if _LONG_NUMBER in text.translate(_DIGITS_AS_ZERO) else orjson.loads(text)


def dumps(value: Any) -> bytes:
    """Python as JSON for jsonb. A value with a float goes through json, which spells NaN and the infinities so
    that PostgreSQL refuses them, where orjson would quietly write null; so does a value orjson refuses (an
    integer past 64 bits, a key that is not a string)."""
    return orjson_exact(value) or json.dumps(value).encode()


def install() -> None:
    """Make ``loads`` and ``dumps`` psycopg's for every connection of the process."""
    set_json_loads(loads)
    set_json_dumps(dumps)
