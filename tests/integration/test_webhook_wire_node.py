"""JSON.stringify(JSON.parse(body)) in a real Node gives back our exact bytes, for any JSON value."""

import json
import subprocess

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.jsjson import stringify

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 99).map(str)), children, max_size=4)
    ),
    max_leaves=12,
)

_ROUND_TRIP = """
const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean);
process.stdout.write(lines.map((l) => JSON.stringify(JSON.parse(l))).join('\\n'));
"""


@settings(max_examples=1, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(values, min_size=300, max_size=300))
def test_node_re_serialises_our_bodies_to_the_same_bytes(batch: list[object]) -> None:
    ours = [stringify(v) for v in batch]
    out = subprocess.run(
        ["node", "-e", _ROUND_TRIP], input="\n".join(ours).encode(), capture_output=True, check=True, timeout=60
    )
    theirs = out.stdout.decode().split("\n")
    mismatched = [(o, t) for o, t in zip(ours, theirs, strict=True) if o != t]
    assert not mismatched, mismatched[:3]


def test_bodies_with_a_lone_surrogate_survive_node_too() -> None:
    text = stringify(json.loads('{"note": "\\ud83d ok"}'))
    out = subprocess.run(["node", "-e", _ROUND_TRIP], input=text.encode(), capture_output=True, check=True)
    assert out.stdout.decode() == text
