"""Issue 7, item 8: unauthenticated, `GET /api/v1/payments/{id}/public` shows only what a checkout page needs,
and the success signature only once the payment succeeded, keyed with the paying merchant's own secret."""

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gatekit import AUTH, CARD, decided, new_merchant, new_order, new_payment, start_gateway

pytestmark = pytest.mark.slow

ALLOWED = {"id", "order_id", "amount", "currency", "method", "status", "error_code", "error_description", "signature"}


@pytest.fixture(scope="module")
def slow_gateway(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any, private_redis: Any) -> Iterator[Any]:
    """Payments stay pending for 2 s, so what the endpoint shows before the decision can be read."""
    folder: Path = tmp_path_factory.mktemp("public-payment")
    gw = start_gateway(folder, fresh_database(), private_redis(), TEST_PROCESSING_DELAY="2000")
    yield gw
    gw.close()


def sign(secret: str, order_id: str, payment_id: str) -> str:
    return hmac.new(secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("method", [{"method": "upi", "vpa": "payer.name@okbank"}, {"method": "card", "card": CARD}])
def test_a_pending_payment_shows_no_payer_details_and_no_signature(slow_gateway: Any, method: dict[str, Any]) -> None:
    with httpx.Client(base_url=slow_gateway.url, headers=AUTH, timeout=10) as api:
        order = new_order(api, 12345)
        payment = new_payment(api, order["id"], **method)
        body = httpx.get(f"{slow_gateway.url}/api/v1/payments/{payment['id']}/public", timeout=10).json()
    assert body == {
        "id": payment["id"],
        "order_id": order["id"],
        "amount": 12345,
        "currency": "INR",
        "method": method["method"],
        "status": "pending",
    }


def test_a_succeeded_payment_adds_only_the_signature_of_its_own_merchant(slow_gateway: Any) -> None:
    creds = new_merchant(slow_gateway.env, "Public Shop")
    headers = {"X-Api-Key": creds["api_key"], "X-Api-Secret": creds["api_secret"]}
    with httpx.Client(base_url=slow_gateway.url, headers=headers, timeout=10) as api:
        order = new_order(api)
        payment = new_payment(api, order["id"], method="card", card=CARD)
        body = decided(api, payment["id"])
        assert api.post(f"/api/v1/payments/{payment['id']}/capture", json={"amount": 50000}).status_code == 200
    public = httpx.get(f"{slow_gateway.url}/api/v1/payments/{payment['id']}/public", timeout=10).json()
    assert body["status"] == "success"
    assert set(public) == {"id", "order_id", "amount", "currency", "method", "status", "signature"}
    assert set(public) <= ALLOWED
    assert public["signature"] == sign(creds["api_secret"], order["id"], payment["id"])
    assert public["signature"] != sign("secret_test_xyz789", order["id"], payment["id"])
    for leaked in ("vpa", "card_last4", "card_network", "captured", "amount_refunded", "merchant_id", "refund_status"):
        assert leaked not in public


def test_an_unknown_payment_is_a_404_with_the_error_body(slow_gateway: Any) -> None:
    r = httpx.get(f"{slow_gateway.url}/api/v1/payments/pay_0000000000000000/public", timeout=10)
    assert r.status_code == 404
    assert r.json()["error"] == {"code": "NOT_FOUND_ERROR", "description": "Payment not found"}
