"""jsonb read back as Python (``ledger.jsontext.loads``): the standard library's values exactly, integers past 64
bits and floats included, whichever parser gave them."""

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from ledger import jsontext

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too, where orjson gives a float or refuses
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


def typed(value: Any) -> str:
    """The value with its types showing (1 and 1.0 differ here, where == calls them equal)."""
    return json.dumps(value, sort_keys=True)


@given(VALUES)
@example({"big": 2**70, "nested": [{"é": -(2**64)}], "exact": 2**64 - 1})
@example([1e-05, 10**400, 0.1])
def test_loads_gives_the_standard_librarys_values(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    for given_as in (text, text.encode(), memoryview(text.encode())):
        assert typed(jsontext.loads(given_as)) == typed(json.loads(text))  # type: ignore[arg-type]
