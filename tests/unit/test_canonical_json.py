"""The chain's canonical bytes: the fast path writes exactly what the reference (the standard library's json, as
the README defines it) writes, for any JSON value an event can hold, and ``timestamp`` spells any instant as
strftime did."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import spec

ROOT = Path(__file__).resolve().parents[2]

#: Every code point but lone surrogates (which neither PostgreSQL's jsonb nor UTF-8 can hold).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4))


@settings(max_examples=2000)
@given(JSON)
def test_the_fast_canonical_json_is_the_reference_byte_for_byte(value: Any) -> None:
    assert spec.dumps(value) == spec.reference_dumps(value)


EVENT = st.fixed_dictionaries(
    {
        "position": st.integers(min_value=1, max_value=2**63 - 1),
        "event_id": st.uuids().map(str),
        "stream_id": TEXT,
        "stream_version": st.integers(min_value=1, max_value=2**31 - 1),
        "type": TEXT,
        "recorded_at": st.datetimes(timezones=st.just(UTC)),
        "data": st.dictionaries(TEXT, JSON, max_size=4),
        "metadata": st.dictionaries(TEXT, JSON, max_size=4),
    }
)


@settings(max_examples=1000)
@given(EVENT, st.sampled_from([{}, {"separators": (", ", ": ")}, {"indent": 1, "ensure_ascii": False}]))
def test_an_event_given_as_text_has_the_canonical_bytes_of_its_parsed_self(
    event: dict[str, Any], spelling: Any
) -> None:
    """The chainer reads each document as the text PostgreSQL spells it, with spaces, and parses it once."""
    text = {k: json.dumps(event[k], **spelling) for k in ("data", "metadata")}
    assert spec.canonical_text(**(event | text)) == spec.canonical(**event)


def test_an_event_nested_past_orjsons_depth_has_the_canonical_bytes_too() -> None:
    """orjson reads 300 levels but will not write past 255: the standard library's bytes, not an error."""
    deep: Any = [1]
    for _ in range(300):
        deep = {"a": deep}
    event = {"position": 1, "event_id": "e", "stream_id": "s", "stream_version": 1, "type": "t", "recorded_at": "r"}
    text = json.dumps(deep)
    assert spec.canonical_text(**event, data=text, metadata="{}") == spec.canonical(**event, data=deep, metadata={})


class Ratio(float):
    """A float by subclass, as a library might hand one over."""


class Count(int):
    pass


def reference_has_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(reference_has_float(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(reference_has_float(v) for v in value)
    return isinstance(value, float)


ODD = st.builds(Ratio, st.floats(allow_nan=False)) | st.builds(Count, st.integers()) | st.tuples(SCALARS)
ANY = st.recursive(SCALARS | ODD, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4))


@given(ANY)
def test_a_float_is_found_wherever_it_is(value: Any) -> None:
    assert spec.has_float(value) == reference_has_float(value)


@settings(max_examples=200)
@given(st.dictionaries(TEXT, st.integers(min_value=0, max_value=9) | TEXT, min_size=2, max_size=8))
def test_keys_are_sorted_by_code_point_at_every_depth(value: dict[str, Any]) -> None:
    assert spec.dumps({"outer": [value]}) == spec.reference_dumps({"outer": [value]})


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_a_timestamp_is_spelt_as_strftime_spelt_it(at: datetime, offset_minutes: int) -> None:
    local = at.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert spec.timestamp(local) == at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@given(
    st.lists(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
        min_size=1,
        max_size=10,
    )
)
def test_utc_instants_in_turn_are_spelt_as_strftime_spelt_them(ats: list[datetime]) -> None:
    """Instants read in UTC take a path of their own that remembers the last second it spelt: each part of
    that second changes here alone, and the same second comes again with other microseconds."""
    steps = [timedelta(), timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)]
    moments = [at + step for at in ats for step in steps] + [at.replace(microsecond=0) for at in ats]
    for moment in moments + [m.replace(microsecond=999_999) for m in moments]:
        assert spec.timestamp(moment) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_spec_needs_only_the_standard_library() -> None:
    """An auditor's verifier may lack orjson: the spec then writes the same bytes by json alone."""
    code = (
        "import sys; sys.modules['orjson'] = None\n"
        "from audit import spec\n"
        "assert spec.orjson is None\n"
        "print(spec.dumps({'b': [1, {'é': None}], 'a': 2**70}).decode())\n"
        "print(spec.canonical_text(**EVENT, data='{\"b\": [1.5]}', metadata='{}').decode())"
    )
    event = {"position": 1, "event_id": "e", "stream_id": "s", "stream_version": 1, "type": "t", "recorded_at": "r"}
    code = code.replace("**EVENT", f"**{event!r}")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [
        spec.dumps({"b": [1, {"é": None}], "a": 2**70}).decode(),
        spec.canonical(**event, data={"b": [1.5]}, metadata={}).decode(),
    ]
