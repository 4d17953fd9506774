"""Request bodies: the orjson path of ``check_body`` answers exactly what the ``object_pairs_hook`` path (the
reference: the standard library's parse, refusing a key given twice) answers, for any body."""

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from api import strictjson
from commands.errors import ValidationFailed

TEXT = st.text(max_size=8)  # lone surrogates too: orjson refuses them, the reference takes them
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too, where orjson would give a float
    | st.floats(allow_nan=False)  # 1e400 is written "Infinity", which only the reference reads
    | TEXT
)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4))


def reference(body: bytes) -> Any:
    """What ``check_body`` answered before the orjson path: the parse, or the error it raised."""
    try:
        return json.loads(body, object_pairs_hook=strictjson._no_duplicates)
    except strictjson.DuplicateKey:
        return "refused"
    except (ValueError, RecursionError):
        return None


def answer(body: bytes) -> Any:
    try:
        return strictjson.check_body("application/json", body)
    except ValidationFailed as exc:
        assert "Request body must not repeat a key" in str(exc)
        return "refused"


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types at every depth (1 == 1.0 == True are told apart; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


@given(st.dictionaries(TEXT, JSON, min_size=1, max_size=6))
def test_a_body_parses_as_the_reference_parses_it(value: dict[str, Any]) -> None:
    body = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert same(answer(body), reference(body))


@given(st.dictionaries(TEXT, JSON, min_size=1, max_size=6), st.data())
@example({"amount": 500}, None)
def test_a_key_given_twice_is_refused_at_any_depth(value: dict[str, Any], data: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    key = next(iter(value)) if data is None else data.draw(st.sampled_from(list(value)))
    twice = "{" + json.dumps(key) + ": 1, " + text[1:]  # the key again, in front
    nested = json.dumps({"outer": 1})[:-1] + ', "inner": ' + twice + "}"
    for body in (twice.encode("utf-8", "surrogatepass"), nested.encode("utf-8", "surrogatepass")):
        assert answer(body) == "refused" == reference(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount": 500, "amount": 700}',
        b'{"a": "x:y", "b": 1}',  # a colon in a string: the long way, same answer
        b'{"a": "q\\":", "a": 1}',
        b'{"a": 123456789012345678901234567890}',  # past 64 bits: an int, not a float
        b'{"a": 1e400}',
        b'{"a": NaN}',
        b'{"a": "\\ud800"}',
        b'\xef\xbb\xbf{"a": 1}',  # a UTF-8 byte order mark, which json.loads of bytes allows
        b'{"a": [1, {"b": 2, "b": 3}]}',
        b"[1, 2]",
        b'{"a": 1',
        b"{" * 5000 + b"}" * 5000,
    ],
)
def test_edge_bodies_answer_as_the_reference_answers(body: bytes) -> None:
    assert same(answer(body), reference(body))
