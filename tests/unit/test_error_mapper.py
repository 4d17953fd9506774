"""The one error mapper: every failure becomes SPEC.md's error body, and no description repeats the input."""

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api import errors
from api.schemas import OrderCreate, PaymentCreate
from commands import errors as domain

SECRET = "4111111111111111"
CVV = "987"
#: Values a payer may send anywhere; none may come back in a description.
SECRETS = st.sampled_from([SECRET, f"{SECRET[:4]} {SECRET[4:8]} {SECRET[8:12]} {SECRET[12:]}", CVV, "9876"])


def build_app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.post("/payments", status_code=201)
    async def create(body: PaymentCreate) -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/orders", status_code=201)
    async def create_order(body: OrderCreate) -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/raise/{name}")
    async def raise_(name: str) -> None:
        raise {
            "validation": domain.ValidationFailed("amount must be at least 100", field="amount"),
            "vpa": domain.InvalidVpa("Invalid VPA format", field="vpa"),
            "card": domain.InvalidCard("Invalid card number"),
            "expired": domain.ExpiredCard("Card has expired"),
            "order": domain.OrderNotFound(),
            "payment": domain.PaymentNotFound(),
            "auth": domain.Unauthenticated(),
            "paid": domain.OrderAlreadyPaid(),
            "boom": RuntimeError(f"a bug holding {SECRET}"),
        }[name]

    return app


CLIENT = TestClient(build_app(), raise_server_exceptions=False)


@pytest.fixture
def client() -> TestClient:
    return CLIENT


@pytest.mark.parametrize(
    ("name", "status", "code", "description"),
    [
        ("validation", 400, "BAD_REQUEST_ERROR", "amount must be at least 100"),
        ("vpa", 400, "INVALID_VPA", "Invalid VPA format"),
        ("card", 400, "INVALID_CARD", "Invalid card number"),
        ("expired", 400, "EXPIRED_CARD", "Card has expired"),
        ("order", 404, "NOT_FOUND_ERROR", "Order not found"),
        ("payment", 404, "NOT_FOUND_ERROR", "Payment not found"),
        ("auth", 401, "AUTHENTICATION_ERROR", "Invalid API credentials"),
        ("paid", 400, "BAD_REQUEST_ERROR", "Order is already paid"),
    ],
)
def test_each_domain_error_has_its_status_code_and_description(
    client: TestClient, name: str, status: int, code: str, description: str
) -> None:
    r = client.get(f"/raise/{name}")
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["description"] == description


def test_an_unexpected_exception_is_a_500_body_that_tells_nothing(client: TestClient) -> None:
    r = client.get("/raise/boom")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "SERVER_ERROR", "description": "Internal server error"}}


@pytest.mark.parametrize(
    "content",
    [b'{"amount":', b"[1, 2]", b'"text"', b"42", b"null", b"", b"\xff\xfe", b'{"amount": 500}{'],
)
def test_a_body_that_is_not_a_json_object_is_a_bad_request(client: TestClient, content: bytes) -> None:
    r = client.post("/orders", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "BAD_REQUEST_ERROR"


def test_a_non_json_content_type_is_a_bad_request(client: TestClient) -> None:
    r = client.post("/orders", content=b"amount=500", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "BAD_REQUEST_ERROR")


def test_a_missing_field_is_named(client: TestClient) -> None:
    r = client.post("/orders", json={})
    assert r.json()["error"] == {"code": "BAD_REQUEST_ERROR", "description": "amount is required", "field": "amount"}


def test_an_unknown_field_is_named_when_it_is_a_plain_name(client: TestClient) -> None:
    r = client.post("/orders", json={"amount": 500, "amout": 1})
    assert r.status_code == 400
    assert "amout" in r.json()["error"]["description"]


def payloads() -> st.SearchStrategy[Any]:
    """Malformed payment bodies with a secret in a value, a key or a nested card field."""
    card = st.fixed_dictionaries(
        {},
        optional={
            "number": SECRETS | st.integers(),
            "expiry_month": SECRETS | st.just(12),
            "expiry_year": SECRETS | st.just("2099"),
            "cvv": SECRETS | st.integers(),
            "holder_name": SECRETS | st.integers(),
            "extra": SECRETS,
        },
    )
    body = st.fixed_dictionaries(
        {},
        optional={
            "order_id": SECRETS | st.integers(),
            "method": SECRETS | st.sampled_from(["card", "upi", 7]),
            "vpa": SECRETS | st.integers(),
            "card": card | SECRETS | st.lists(SECRETS, max_size=2),
        },
    )
    with_secret_key = st.builds(lambda b, k: {**b, k: 1}, body, SECRETS)
    return body | with_secret_key | SECRETS | st.lists(SECRETS, max_size=2)


def leaks(text: str) -> bool:
    digits = "".join(ch for ch in text if ch.isdigit())
    return SECRET in digits or CVV in text or "9876" in text or SECRET[:8] in digits


@settings(max_examples=300, deadline=None)
@given(payloads())
def test_describing_a_validation_failure_never_repeats_the_input(payload: Any) -> None:
    try:
        PaymentCreate.model_validate_json(json.dumps(payload))
    except ValidationError as e:
        for err in e.errors():
            description, field = errors.describe({**err, "loc": ("body", *err["loc"])})
            assert not leaks(description), (description, err)
            assert field is None or not leaks(field), (field, err)


@settings(max_examples=100, deadline=None)
@given(payloads())
def test_an_error_response_never_repeats_the_input(payload: Any) -> None:
    r = CLIENT.post("/payments", json=payload)
    if r.status_code != 201:
        assert r.status_code == 400
        assert not leaks(r.text), r.text


@pytest.mark.parametrize(
    ("content", "description"),
    [
        ('{"amount": 500, "receipt": "a\\u0000b"}', "text must not contain NUL characters"),
        ('{"amount": 500, "notes": {"k\\u0000": "v"}}', "text must not contain NUL characters"),
        ('{"amount": 500, "notes": {"k": "\\udc00"}}', "text must be valid Unicode"),
        ('{"amount": 500, "notes": {"k": [1, NaN]}}', "numbers must be finite"),
        ('{"amount": 500, "notes": {"k": -Infinity}}', "numbers must be finite"),
        ('{"amount": 500, "notes": {"k": 9007199254740992}}', "numbers must be between -(2^53-1) and 2^53-1"),
    ],
)
def test_a_value_the_store_cannot_hold_is_a_bad_request(client: TestClient, content: str, description: str) -> None:
    r = client.post("/orders", content=content.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == {"code": "BAD_REQUEST_ERROR", "description": description}


def test_the_largest_safe_numbers_and_any_unicode_are_accepted(client: TestClient) -> None:
    notes = {"city": "पुणे", "emoji": "💳", "max": 2**53 - 1, "min": -(2**53 - 1), "ratio": 0.5, "yes": True}
    r = client.post("/orders", json={"amount": 500, "notes": notes})
    assert r.status_code == 201, r.text
