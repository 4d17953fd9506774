"""Capture over HTTP: only a successful payment, only once, only for its whole amount."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from payflow import AUTH, events_of, merchant_client, paid_payment

NOT_CAPTURABLE = {"code": "BAD_REQUEST_ERROR", "description": "Payment not in capturable state"}


@pytest.fixture(scope="module")
def other(gateway: Any) -> Iterator[httpx.Client]:
    with merchant_client(gateway, "capture-other") as client:
        yield client


def capture(api: httpx.Client, payment_id: str, body: Any) -> httpx.Response:
    return api.post(f"/api/v1/payments/{payment_id}/capture", json=body)


class TestCapture:
    def test_capturing_a_successful_payment_in_full_marks_it_captured(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 50000)
        assert pay["captured"] is False
        r = capture(api, pay["id"], {"amount": 50000})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["id"], body["status"], body["captured"], body["amount"]) == (pay["id"], "success", True, 50000)
        assert set(body) == set(pay)
        assert api.get(f"/api/v1/payments/{pay['id']}").json()["captured"] is True

    def test_the_currency_may_be_given_when_it_is_the_payments(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 10000)
        assert capture(api, pay["id"], {"amount": 10000, "currency": "INR"}).status_code == 200

    def test_a_payment_is_captured_only_once(self, api: httpx.Client, gateway: Any) -> None:
        pay = paid_payment(api, 20000)
        assert capture(api, pay["id"], {"amount": 20000}).status_code == 200
        again = capture(api, pay["id"], {"amount": 20000})
        assert again.status_code == 400
        assert again.json()["error"] == NOT_CAPTURABLE
        types = [t for t, _ in events_of(gateway.env["DATABASE_URL"], f"payment-{pay['id']}")]
        assert types.count("payment.captured.v1") == 1

    @pytest.mark.parametrize("amount", [19999, 20001, 100])
    def test_an_amount_other_than_the_payments_is_refused(self, api: httpx.Client, amount: int) -> None:
        pay = paid_payment(api, 20000)
        r = capture(api, pay["id"], {"amount": amount})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "BAD_REQUEST_ERROR"
        assert "amount" in r.json()["error"]["description"]
        assert api.get(f"/api/v1/payments/{pay['id']}").json()["captured"] is False

    def test_another_currency_is_refused(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 20000)
        r = capture(api, pay["id"], {"amount": 20000, "currency": "USD"})
        assert r.status_code == 400
        assert api.get(f"/api/v1/payments/{pay['id']}").json()["captured"] is False

    def test_a_captured_payment_can_still_be_refunded(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 20000)
        assert capture(api, pay["id"], {"amount": 20000}).status_code == 200
        r = api.post(f"/api/v1/payments/{pay['id']}/refunds", json={"amount": 5000})
        assert r.status_code == 201, r.text
        body = api.get(f"/api/v1/payments/{pay['id']}").json()
        assert (body["captured"], body["status"], body["refund_status"]) == (True, "success", "partial")


class TestNotFound:
    def test_an_unknown_payment_is_not_found(self, api: httpx.Client) -> None:
        r = capture(api, "pay_0000000000000000", {"amount": 100})
        assert r.status_code == 404
        assert r.json()["error"] == {"code": "NOT_FOUND_ERROR", "description": "Payment not found"}

    def test_another_merchants_payment_is_not_found(self, api: httpx.Client, other: httpx.Client) -> None:
        pay = paid_payment(api, 10000)
        r = capture(other, pay["id"], {"amount": 10000})
        assert r.status_code == 404
        assert r.json()["error"]["description"] == "Payment not found"
        assert api.get(f"/api/v1/payments/{pay['id']}").json()["captured"] is False


MALFORMED: list[tuple[str, Any]] = [
    ("no amount", {}),
    ("amount as text", {"amount": "10000"}),
    ("amount as float", {"amount": 10000.0}),
    ("negative amount", {"amount": -10000}),
    ("boolean amount", {"amount": True}),
    ("null amount", {"amount": None}),
    ("currency not text", {"amount": 10000, "currency": 356}),
    ("currency too long", {"amount": 10000, "currency": "RUPEE"}),
    ("unknown field", {"amount": 10000, "partial": True}),
    ("array body", [10000]),
    ("number body", 10000),
]


@pytest.fixture(scope="module")
def payment(gateway: Any) -> dict[str, Any]:
    """A paid payment that only malformed requests touch."""
    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as api:
        return paid_payment(api, 10000)


class TestMalformedCapture:
    @pytest.mark.parametrize(("case", "body"), MALFORMED, ids=[c for c, _ in MALFORMED])
    def test_a_malformed_capture_is_a_bad_request(
        self, api: httpx.Client, payment: dict[str, Any], case: str, body: Any
    ) -> None:
        r = capture(api, payment["id"], body)
        assert r.status_code == 400, (case, r.text)
        assert r.json()["error"]["code"] == "BAD_REQUEST_ERROR"

    @pytest.mark.parametrize("raw", [b"{", b"amount=10000", b""])
    def test_a_body_that_is_not_json_is_a_bad_request(
        self, api: httpx.Client, payment: dict[str, Any], raw: bytes
    ) -> None:
        r = api.post(
            f"/api/v1/payments/{payment['id']}/capture", content=raw, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "BAD_REQUEST_ERROR"

    def test_no_malformed_request_captured_the_payment(self, api: httpx.Client, payment: dict[str, Any]) -> None:
        assert api.get(f"/api/v1/payments/{payment['id']}").json()["captured"] is False
