"""The nesting-depth bound of request bodies agrees with the depth of the JSON value, whatever its strings hold."""

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from api.limits import MAX_DEPTH, too_deep

TEXT = st.text(alphabet='[]{}"\\ab', max_size=6)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=60,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def nest(value: Any, levels: int) -> Any:
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


@given(JSON, st.integers(0, 40))
def test_too_deep_is_exactly_depth_over_the_limit(value: Any, extra: int) -> None:
    value = nest(value, extra)
    assert too_deep(orjson.dumps(value)) == (depth(value) > MAX_DEPTH)


def test_the_limit_itself_is_allowed_and_one_more_is_not() -> None:
    assert not too_deep(orjson.dumps(nest(1, MAX_DEPTH)))
    assert too_deep(orjson.dumps(nest(1, MAX_DEPTH + 1)))
    assert too_deep(b"[" * 100_000)  # not even JSON, but that deep before it ends
