"""What goes on the wire: bodies exactly as JSON.stringify writes them, and both signature schemes."""

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from projections.bodies import webhook_envelope
from projections.jsjson import number, reference, stringify
from workers import signing

SECRET = "whsec_test_abc123"


@pytest.mark.parametrize(
    ("value", "js"),
    [
        (0.0, "0"), (-0.0, "0"), (1.0, "1"), (1.5, "1.5"), (-2.25, "-2.25"), (100.0, "100"), (0.1, "0.1"),
        (1e21, "1e+21"), (1e20, "100000000000000000000"), (1.2345678901234567e20, "123456789012345670000"),
        (1e-6, "0.000001"), (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (123e-20, "1.23e-18"), (1e16, "10000000000000000"),
        (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"), (float("nan"), "null"),
        (float("inf"), "null"),
    ],
)  # fmt: skip
def test_numbers_are_written_as_ecmascript_writes_them(value: float, js: str) -> None:
    assert number(value) == js


def test_integers_beyond_2_to_53_become_the_double_javascript_would_parse() -> None:
    assert stringify(2**53) == "9007199254740992"
    assert stringify(12345678901234567890) == "12345678901234567000"


def test_objects_put_array_index_keys_first_then_the_rest_as_inserted() -> None:
    assert stringify({"b": 1, "2": 2, "1": 3, "01": 4, "a": 5}) == '{"1":3,"2":2,"b":1,"01":4,"a":5}'


def test_strings_keep_non_ascii_and_escape_what_json_stringify_escapes() -> None:
    s = 'é ₹ 😀 \u2028 " \\ \n \t \x01 \x7f'
    assert stringify(s) == '"é ₹ 😀 \u2028 \\" \\\\ \\n \\t \\u0001 \x7f"'
    assert stringify("\ud800x") == '"\\ud800x"'  # a lone surrogate is escaped, as ES2019 does


def test_the_envelope_is_compact_and_ordered_event_timestamp_data() -> None:
    body = webhook_envelope("payment.success", 1705314660, {"payment": {"id": "pay_x", "amount": 50000}})
    assert body == '{"event":"payment.success","timestamp":1705314660,"data":{"payment":{"id":"pay_x","amount":50000}}}'


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_any_json_value_parses_back_to_itself(value: object) -> None:
    assert json.loads(stringify(value)) == value


def test_both_signatures_verify_with_the_secret_and_fail_with_another() -> None:
    body = webhook_envelope("payment.success", 1, {"payment": {"note": "नमस्ते"}}).encode()
    now = int(time.time())
    headers = signing.headers(SECRET, "msg_1", now, body)
    assert headers["X-Webhook-Signature"] == signing.hex_signature(SECRET, body)
    assert signing.verify_hex(SECRET, body, headers["X-Webhook-Signature"])
    lower = {k.lower(): v for k, v in headers.items()}
    assert signing.verify_standard(SECRET, body, lower, now)
    assert not signing.verify_standard("whsec_other", body, lower, now)
    assert not signing.verify_standard(SECRET, body, lower, now + signing.TOLERANCE_S + 1)
    assert not signing.verify_hex(SECRET, body + b" ", headers["X-Webhook-Signature"])
    Webhook(base64.b64encode(SECRET.encode()).decode()).verify(body.decode(), headers)  # raises if not


def test_the_hex_signature_is_hmac_sha256_of_the_body_with_the_secret() -> None:
    import hashlib
    import hmac

    body = b'{"event":"payment.success"}'
    assert signing.hex_signature(SECRET, body) == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


#: Everything a body may hold, and what makes ``stringify`` leave orjson for the reference: floats, integers past
#: 2**53, array-index and other digit keys, every code point (lone surrogates and control characters included).
any_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([2**53, -(2**53), 2**53 + 1, -(2**53) - 1, 2**64])
    | st.floats()
    | st.text(st.characters(), max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(
            st.text(st.characters(), max_size=4)
            | st.integers(0, 2**33).map(str)
            | st.sampled_from(["01", "4294967294"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=2000)
@given(any_values)
def test_stringify_writes_what_the_reference_writes(value: object) -> None:
    assert stringify(value) == reference(value)


def test_what_is_not_json_shaped_is_refused_as_the_reference_refuses_it() -> None:
    for odd in ({"at": datetime.now(UTC)}, [uuid.uuid4()], {"n": Decimal(1)}, {"s": {1, 2}}, [b"bytes"]):
        with pytest.raises(TypeError):
            reference(odd)
        with pytest.raises(TypeError):
            stringify(odd)
    assert stringify({1: "a", "b": 2}) == reference({1: "a", "b": 2}) == '{"1":"a","b":2}'
