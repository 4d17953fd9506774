"""Every malformed request is a 400 BAD_REQUEST_ERROR with SPEC.md's error body: never a 422, never a 500."""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gatekit import AUTH, CARD, new_order

ORDER = "{order}"  # replaced by a real, unpaid order of the test merchant


def raw(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"Content-Type": "application/json"}}


def card_without(field: str) -> dict[str, Any]:
    return {"order_id": ORDER, "method": "card", "card": {k: v for k, v in CARD.items() if k != field}}


ORDER_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("malformed json", raw('{"amount": 500')),
    ("trailing garbage", raw('{"amount": 500} x')),
    ("a list", raw("[500]")),
    ("a string", raw('"500"')),
    ("a number", raw("500")),
    ("null", raw("null")),
    ("no body", {"headers": {"Content-Type": "application/json"}}),
    ("form encoded", {"content": b"amount=500", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
    ("not utf-8", {"content": b'{"amount": "\xff"}', "headers": {"Content-Type": "application/json"}}),
    ("missing amount", {"json": {"currency": "INR"}}),
    ("amount as string", {"json": {"amount": "50000"}}),
    ("amount as float", {"json": {"amount": 500.0}}),
    ("amount with fraction", {"json": {"amount": 500.5}}),
    ("amount as bool", {"json": {"amount": True}}),
    ("amount null", {"json": {"amount": None}}),
    ("amount as object", {"json": {"amount": {"value": 500}}}),
    ("negative amount", {"json": {"amount": -500}}),
    ("zero amount", {"json": {"amount": 0}}),
    ("amount beyond 64 bits", raw('{"amount": 99999999999999999999999}')),
    ("amount 2^63", raw('{"amount": 9223372036854775808}')),
    ("amount in exponent form", raw('{"amount": 5e4}')),
    ("amount NaN", raw('{"amount": NaN}')),
    ("amount Infinity", raw('{"amount": Infinity}')),
    ("currency as number", {"json": {"amount": 500, "currency": 356}}),
    ("currency lower case", {"json": {"amount": 500, "currency": "inr"}}),
    ("currency too long", {"json": {"amount": 500, "currency": "RUPEE"}}),
    ("receipt as number", {"json": {"amount": 500, "receipt": 42}}),
    ("receipt too long", {"json": {"amount": 500, "receipt": "r" * 41}}),
    ("notes as string", {"json": {"amount": 500, "notes": "gift"}}),
    ("notes as list", {"json": {"amount": 500, "notes": ["gift"]}}),
    ("unknown field", {"json": {"amount": 500, "colour": "red"}}),
    ("NUL in receipt", {"json": {"amount": 500, "receipt": "a\u0000b"}}),
    ("NUL in a note", {"json": {"amount": 500, "notes": {"k": "a\u0000b"}}}),
    ("NUL in a note key", {"json": {"amount": 500, "notes": {"a\u0000b": "v"}}}),
    ("lone surrogate in receipt", raw('{"amount": 500, "receipt": "\\ud800"}')),
    ("lone surrogate in a note", raw('{"amount": 500, "notes": {"k": "\\udfff"}}')),
    ("NaN in a note", raw('{"amount": 500, "notes": {"k": NaN}}')),
    ("huge number in a note", raw('{"amount": 500, "notes": {"k": 99999999999999999999999}}')),
    ("notes nested 900 deep with NaN", raw('{"amount": 500, "notes": {"k": ' + "[" * 900 + "NaN" + "]" * 900 + "}}")),
    ("deeply nested notes", raw('{"amount": 500, "notes": {"k": ' + "[" * 5000 + "]" * 5000 + "}}")),
]

PAYMENT_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("malformed json", raw('{"order_id": ')),
    ("a list", raw("[]")),
    ("no body", {"headers": {"Content-Type": "application/json"}}),
    ("missing order id", {"json": {"method": "upi", "vpa": "a@b"}}),
    ("order id as number", {"json": {"order_id": 12, "method": "upi", "vpa": "a@b"}}),
    ("missing method", {"json": {"order_id": ORDER, "vpa": "a@b"}}),
    ("unknown method", {"json": {"order_id": ORDER, "method": "netbanking"}}),
    ("method as number", {"json": {"order_id": ORDER, "method": 1, "vpa": "a@b"}}),
    ("method null", {"json": {"order_id": ORDER, "method": None, "vpa": "a@b"}}),
    ("upi without vpa", {"json": {"order_id": ORDER, "method": "upi"}}),
    ("vpa as number", {"json": {"order_id": ORDER, "method": "upi", "vpa": 42}}),
    ("card without card", {"json": {"order_id": ORDER, "method": "card"}}),
    ("card as string", {"json": {"order_id": ORDER, "method": "card", "card": "4111111111111111"}}),
    ("card as list", {"json": {"order_id": ORDER, "method": "card", "card": [CARD]}}),
    ("card without number", {"json": card_without("number")}),
    ("card without expiry month", {"json": card_without("expiry_month")}),
    ("card without expiry year", {"json": card_without("expiry_year")}),
    ("card without cvv", {"json": card_without("cvv")}),
    ("card without holder", {"json": card_without("holder_name")}),
    ("card with empty number", {"json": {"order_id": ORDER, "method": "card", "card": {**CARD, "number": ""}}}),
    ("card with empty holder", {"json": {"order_id": ORDER, "method": "card", "card": {**CARD, "holder_name": " "}}}),
    ("card number as float", {"json": {"order_id": ORDER, "method": "card", "card": {**CARD, "number": 4.1}}}),
    ("card number as bool", {"json": {"order_id": ORDER, "method": "card", "card": {**CARD, "number": True}}}),
    ("card with unknown field", {"json": {"order_id": ORDER, "method": "card", "card": {**CARD, "pin": "1234"}}}),
    ("unknown field", {"json": {"order_id": ORDER, "method": "upi", "vpa": "a@b", "amount": 1}}),
    ("NUL in vpa", {"json": {"order_id": ORDER, "method": "upi", "vpa": "a\u0000@b"}}),
    ("NUL in order id", {"json": {"order_id": "order_\u0000", "method": "upi", "vpa": "a@b"}}),
    (
        "lone surrogate in holder",
        raw(
            '{"order_id": "'
            + ORDER
            + '", "method": "card", "card": '
            + json.dumps(CARD)[:-1]
            + ', "holder_name": "\\ud800"}}'
        ),
    ),
]

QUERIES: list[tuple[str, str]] = [
    ("count zero", "/api/v1/payments?count=0"),
    ("count above 100", "/api/v1/payments?count=101"),
    ("count not a number", "/api/v1/payments?count=ten"),
    ("count fraction", "/api/v1/payments?count=1.5"),
    ("negative skip", "/api/v1/payments?skip=-1"),
    ("huge skip", "/api/v1/payments?skip=99999999999999999999999"),
    ("unknown status", "/api/v1/payments?status=done"),
    ("from not a number", "/api/v1/payments?from=yesterday"),
    ("negative to", "/api/v1/payments?to=-5"),
    ("from beyond year 9999", "/api/v1/payments?from=99999999999999"),
    ("to beyond year 9999", "/api/v1/payments?to=99999999999999"),
    ("orders count not a number", "/api/v1/orders?count=many"),
    ("orders huge skip", "/api/v1/orders?skip=99999999999999999999999"),
    ("order payments count zero", "/api/v1/orders/{order}/payments?count=0"),
]


@pytest.fixture(scope="module")
def client(gateway: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def order_id(client: httpx.Client) -> str:
    return str(new_order(client)["id"])


def fill(request: dict[str, Any], order_id: str) -> dict[str, Any]:
    """``request`` with the placeholder order id replaced by a real one."""
    if "json" in request:
        return {**request, "json": json.loads(json.dumps(request["json"]).replace(ORDER, order_id))}
    if "content" in request:
        return {**request, "content": request["content"].replace(ORDER.encode(), order_id.encode())}
    return request


def assert_bad_request(r: httpx.Response) -> None:
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "BAD_REQUEST_ERROR"
    assert isinstance(body["error"]["description"], str) and body["error"]["description"]


@pytest.mark.parametrize("request_", [r for _, r in ORDER_BODIES], ids=[n for n, _ in ORDER_BODIES])
def test_a_malformed_order_is_a_bad_request(client: httpx.Client, request_: dict[str, Any]) -> None:
    assert_bad_request(client.post("/api/v1/orders", **request_))


@pytest.mark.parametrize("request_", [r for _, r in PAYMENT_BODIES], ids=[n for n, _ in PAYMENT_BODIES])
@pytest.mark.parametrize("path", ["/api/v1/payments", "/api/v1/payments/public"])
def test_a_malformed_payment_is_a_bad_request(
    client: httpx.Client, order_id: str, path: str, request_: dict[str, Any]
) -> None:
    assert_bad_request(client.post(path, **fill(request_, order_id)))


@pytest.mark.parametrize("path", [p for _, p in QUERIES], ids=[n for n, _ in QUERIES])
def test_a_malformed_query_is_a_bad_request(client: httpx.Client, order_id: str, path: str) -> None:
    assert_bad_request(client.get(path.replace("{order}", order_id)))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders/order_%00abc",
        "/api/v1/orders/order_%00abc/public",
        "/api/v1/orders/order_%00abc/payments",
        "/api/v1/payments/pay_%00abc",
        "/api/v1/payments/pay_%00abc/public",
        "/api/v1/payments?status=%00",
    ],
)
def test_a_nul_byte_in_the_path_or_query_is_a_bad_request(client: httpx.Client, path: str) -> None:
    assert_bad_request(client.get(path))


@pytest.mark.parametrize("path", ["/api/v1/orders/" + "x" * 5000, "/api/v1/payments/%F0%9F%92%B3"])
def test_an_odd_id_in_the_path_is_simply_not_found(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "NOT_FOUND_ERROR"


def test_nothing_malformed_left_a_trace(client: httpx.Client, order_id: str) -> None:
    """The order the malformed payments named is still unpaid and without payments."""
    assert client.get(f"/api/v1/orders/{order_id}").json()["status"] == "created"
    assert client.get(f"/api/v1/orders/{order_id}/payments").json()["count"] == 0


# ---------------------------------------------------------------- errors that say what is wrong (issue 13)


def error_of(r: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    error: dict[str, Any] = r.json()["error"]
    return error


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_valid_json_with_the_wrong_content_type_is_told_so(client: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    request = client.build_request("POST", "/api/v1/orders", content=b'{"amount": 500}', headers=headers)
    assert request.headers.get("Content-Type") == content_type  # httpx adds none for raw bytes
    error = error_of(client.send(request))
    assert error == {"code": "BAD_REQUEST_ERROR", "description": "Content-Type must be application/json"}


def test_json_with_a_charset_or_a_json_suffix_is_accepted(client: httpx.Client) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        r = client.post("/api/v1/orders", content=b'{"amount": 500}', headers={"Content-Type": content_type})
        assert r.status_code == 201, r.text


def test_a_card_that_is_not_an_object_is_told_so(client: httpx.Client, order_id: str) -> None:
    for card in ("4111111111111111", ["4111111111111111"]):
        r = client.post("/api/v1/payments", json={"order_id": order_id, "method": "card", "card": card})
        assert error_of(r)["description"] == "card must be a JSON object"


@pytest.mark.parametrize("month", ["13", "00"])
def test_a_month_that_does_not_exist_is_an_invalid_card(client: httpx.Client, order_id: str, month: str) -> None:
    card = {**CARD, "expiry_month": month}
    r = client.post("/api/v1/payments", json={"order_id": order_id, "method": "card", "card": card})
    assert error_of(r)["code"] == "INVALID_CARD"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expiry_year", "203²"),
        ("expiry_month", "1²"),
        ("number", "411111111111111²"),
        ("number", "٤١١١١١١١١١١١١١١١"),
        ("cvv", "١٢٣"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/payments", "/api/v1/payments/public"])
def test_digits_are_ascii_digits_only(client: httpx.Client, order_id: str, path: str, field: str, value: str) -> None:
    r = client.post(path, json={"order_id": order_id, "method": "card", "card": {**CARD, field: value}})
    assert error_of(r)["code"] == "INVALID_CARD"


@pytest.mark.parametrize("field", ["number", "expiry_month", "expiry_year", "cvv"])
def test_card_fields_are_json_strings(client: httpx.Client, order_id: str, field: str) -> None:
    card = {**CARD, field: int(CARD[field])}
    r = client.post("/api/v1/payments", json={"order_id": order_id, "method": "card", "card": card})
    error = error_of(r)
    assert (error["code"], error["field"]) == ("BAD_REQUEST_ERROR", f"card.{field}")


def test_a_upi_payment_carrying_a_card_is_refused_naming_the_field(client: httpx.Client, order_id: str) -> None:
    r = client.post("/api/v1/payments", json={"order_id": order_id, "method": "upi", "vpa": "a@okbank", "card": CARD})
    assert error_of(r) == {
        "code": "BAD_REQUEST_ERROR",
        "description": "card is not accepted for upi payments",
        "field": "card",
    }


@pytest.mark.parametrize(
    "content",
    ['{"amount": 500, "amount": 700}', '{"amount": 500, "notes": {"a": "1", "a": "2"}}'],
)
def test_a_key_given_twice_is_refused(client: httpx.Client, content: str) -> None:
    r = client.post("/api/v1/orders", **raw(content))
    assert error_of(r) == {"code": "BAD_REQUEST_ERROR", "description": "Request body must not repeat a key"}


@pytest.mark.parametrize(
    ("notes", "description"),
    [
        ({f"k{i}": "v" for i in range(16)}, "notes: notes may have at most 15 keys"),
        ({"k": {"deep": "x"}}, "notes: notes values must be a string, number or boolean (no nesting)"),
        ({"k": ["x"]}, "notes: notes values must be a string, number or boolean (no nesting)"),
        ({"k": None}, "notes: notes values must be a string, number or boolean (no nesting)"),
        ({"k": "x" * 257}, "notes: notes keys and values must be at most 256 characters"),
    ],
)
def test_notes_keep_razorpays_limits(client: httpx.Client, notes: dict[str, Any], description: str) -> None:
    assert error_of(client.post("/api/v1/orders", json={"amount": 500, "notes": notes}))["description"] == description


def test_notes_at_the_limits_are_accepted(client: httpx.Client) -> None:
    notes: dict[str, Any] = {f"k{i}": "v" * 256 for i in range(13)} | {"n": 1.5, "b": True}
    r = client.post("/api/v1/orders", json={"amount": 500, "notes": notes, "receipt": "r" * 40})
    assert r.status_code == 201, r.text
    assert r.json()["notes"] == notes


def test_a_currency_outside_iso_4217_is_refused(client: httpx.Client) -> None:
    error = error_of(client.post("/api/v1/orders", json={"amount": 500, "currency": "XYZ"}))
    assert error["field"] == "currency" and "ISO 4217" in error["description"]
    assert client.post("/api/v1/orders", json={"amount": 500, "currency": "USD"}).status_code == 201


def test_partial_payment_is_refused_naming_the_field_when_true(client: httpx.Client) -> None:
    assert client.post("/api/v1/orders", json={"amount": 500, "partial_payment": False}).status_code == 201
    error = error_of(client.post("/api/v1/orders", json={"amount": 500, "partial_payment": True}))
    assert error["description"].startswith("partial_payment: true is not supported")
