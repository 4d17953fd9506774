"""jsonb both ways, as the whole process sends and reads it (``install``): by orjson, several times faster than
the standard library, wherever it gives the same values; by the standard library where it would not."""

import json
import re
from typing import Any

import orjson
from psycopg.types.json import set_json_dumps, set_json_loads

from audit.spec import has_float

#: 19 digits in a row: maybe an integer beyond 64 bits, which orjson would read as a float.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def loads(text: str | bytes) -> Any:
    """jsonb as Python: the standard parser where a number may be too long for orjson, so the values are the
    same either way."""
    if isinstance(text, str):
        text = text.encode()
    return json.loads(bytes(text)) if _LONG_NUMBER.search(text) else orjson.loads(text)


def dumps(value: Any) -> bytes:
    """Python as JSON for jsonb. A value with a float goes through json, which spells NaN and the infinities so
    that PostgreSQL refuses them, where orjson would quietly write null; so does a value orjson refuses (an
    integer past 64 bits, a key that is not a string)."""
    if not has_float(value):
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:
            pass
    return json.dumps(value).encode()


def install() -> None:
    """Make ``loads`` and ``dumps`` psycopg's for every connection of the process."""
    set_json_loads(loads)
    set_json_dumps(dumps)
