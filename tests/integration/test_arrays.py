"""``ledger.arrays`` writes column arrays in PostgreSQL's binary format itself: they must be the bytes psycopg
would send, read back as the values given, and anything its writers do not take must go to psycopg as before."""

import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.adapt import PyFormat, Transformer
from psycopg.types.json import Jsonb

from ledger import arrays

#: Text PostgreSQL stores, in text or in jsonb: UTF-8 (no lone surrogate), no NUL.
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))
#: The text ``arrays`` writes itself: ASCII, the same bytes in every client encoding.
ascii_texts = st.text(st.characters(codec="ascii", exclude_characters="\x00"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
#: What a jsonb column takes: a document as it is, or any JSON value in psycopg's wrapper.
jsonb_values = st.one_of(
    st.lists(json_values, max_size=3), st.dictionaries(texts, json_values, max_size=3), json_values.map(Jsonb)
)
COLUMNS: dict[str, Any] = {
    "text": ascii_texts,
    "uuid": st.uuids(),
    "jsonb": jsonb_values,
    "boolean": st.booleans(),
    "integer": st.integers(-(2**31), 2**31 - 1),
    "bigint": st.integers(-(2**63), 2**63 - 1),
}


def psycopgs(sql_type: str, values: list[Any]) -> bytes:
    """What psycopg itself sends for the list."""
    if sql_type == "jsonb":
        values = [v if v is None or isinstance(v, Jsonb) else Jsonb(v) for v in values]
    dumped = Transformer().dump_sequence([values], [PyFormat.BINARY])[0]
    assert dumped is not None
    return bytes(dumped)


@pytest.mark.parametrize("sql_type", ["text", "uuid", "jsonb", "boolean"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_bytes_are_psycopgs_own(sql_type: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.none() | COLUMNS[sql_type], min_size=1, max_size=6))
    if all(v is None for v in values):
        return  # psycopg cannot tell the element type of a list of nulls; the cast in the statement does
    assert bytes(arrays.encode(sql_type, values)) == psycopgs(sql_type, values)  # type: ignore[arg-type]


@given(st.lists(st.uuids(), min_size=1, max_size=4))
def test_a_uuid_spelled_canonically_is_written_as_the_uuid(ids: list[uuid.UUID]) -> None:
    assert arrays.encode("uuid", [str(u) for u in ids]) == arrays.encode("uuid", ids)
    assert arrays.encode("uuid", [str(u).upper() for u in ids]) == arrays.encode("uuid", ids)


@pytest.mark.parametrize("sql_type", list(COLUMNS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_postgresql_reads_back_the_values_given(
    sql_type: str, data: st.DataObject, conn: psycopg.AsyncConnection[Any]
) -> None:
    values = data.draw(st.lists(st.none() | COLUMNS[sql_type], max_size=6))
    encoded = arrays.encode(sql_type, values)
    assert isinstance(encoded, bytes), "written here, not left to psycopg"
    row = await (await conn.execute(f"SELECT %b::{sql_type}[]", [encoded])).fetchone()
    assert row is not None and row[0] == [v.obj if isinstance(v, Jsonb) else v for v in values]


async def test_a_jsonb_wrapper_is_written_as_psycopg_writes_it_its_own_dumps_included(
    conn: psycopg.AsyncConnection[Any],
) -> None:
    values = [Jsonb({"a": [1, "é"]}), Jsonb('{"b": 2}', dumps=lambda text: text), None]
    encoded = arrays.encode("jsonb", values)
    assert isinstance(encoded, bytes) and bytes(encoded) == psycopgs("jsonb", values)
    row = await (await conn.execute("SELECT %b::jsonb[]", [encoded])).fetchone()
    assert row is not None and row[0] == [{"a": [1, "é"]}, {"b": 2}, None]


#: Values the writers leave to psycopg (of another kind, or text beyond ASCII): it gets the list, as before.
WRONG_KIND = [
    ("integer", "7"),
    ("text", 5),
    ("text", "é"),
    ("boolean", 1),
    ("uuid", 3),
    ("jsonb", '{"a": 1}'),
    ("jsonb", 5),
]
#: Values no column of the type can hold: psycopg gets the list and it, or PostgreSQL, refuses it as before.
REFUSED = [
    ("integer", 2**31),
    ("bigint", -(2**63) - 1),
    ("text", "a\x00b"),
    ("text", "\ud800"),
    ("uuid", "not-a-uuid"),
    ("uuid", f"urn:uuid:{uuid.UUID(int=7)}"),
    ("uuid", "0123456789abcdef0123456789abcdef----"),
    ("uuid", "01  4567-89ab-cdef-0123-456789abcdef"),  # 15 bytes once its spaces are skipped
    ("uuid", "01234567-89ab-cdef-0123-45678-abcdef"),
    ("uuid", "0123456\u0667-89ab-cdef-0123-456789abcdef"),  # an Arabic-Indic seven, which int() reads
    ("jsonb", {1j}),
]


@pytest.mark.parametrize(("sql_type", "value"), WRONG_KIND + REFUSED)
def test_what_the_writers_do_not_take_stays_a_list(sql_type: str, value: Any) -> None:
    first = "x" if sql_type == "text" else None
    assert arrays.encode(sql_type, (first, value)) == [first, value]


async def test_a_bare_string_for_jsonb_is_parsed_by_postgresql_as_before(conn: psycopg.AsyncConnection[Any]) -> None:
    encoded = arrays.encode("jsonb", ['{"a": 1}'])
    row = await (await conn.execute("SELECT %b::jsonb[]", [encoded])).fetchone()
    assert row is not None and row[0] == [{"a": 1}]


@pytest.mark.parametrize(("sql_type", "value"), REFUSED)
async def test_what_no_column_can_hold_is_refused_as_before(
    sql_type: str, value: Any, conn: psycopg.AsyncConnection[Any]
) -> None:
    with pytest.raises((psycopg.Error, TypeError, ValueError)):
        async with conn.transaction(force_rollback=True):
            await conn.execute(f"SELECT %b::{sql_type}[]", [arrays.encode(sql_type, [value])])


def test_a_type_not_written_here_stays_a_list() -> None:
    assert arrays.encode("timestamp with time zone", (None,)) == [None]
    assert arrays.encode("uuid", [uuid.UUID(int=1)]) != [uuid.UUID(int=1)]
