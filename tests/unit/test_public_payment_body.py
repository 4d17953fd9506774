"""The public payment body: the error only once failed, a signature only once succeeded."""

from datetime import UTC, datetime
from typing import Any

from api.signature import checkout_signature
from projections.bodies import payment_public

ROW: dict[str, Any] = {
    "id": "pay_AAAAAAAAAAAAAAAA",
    "order_id": "order_BBBBBBBBBBBBBBBB",
    "merchant_id": "550e8400-e29b-41d4-a716-446655440000",
    "amount": 50000,
    "currency": "INR",
    "method": "upi",
    "vpa": "payer@okbank",
    "card_network": None,
    "card_last4": None,
    "captured": False,
    "amount_refunded": 0,
    "error_code": None,
    "error_description": None,
    "created_at": datetime.now(UTC),
    "updated_at": datetime.now(UTC),
}


def test_a_pending_payment_never_carries_a_signature_even_if_one_is_given() -> None:
    body = payment_public(ROW | {"status": "pending"}, "f" * 64)
    assert set(body) == {"id", "order_id", "amount", "currency", "method", "status"}


def test_a_failed_payment_carries_its_error_and_no_signature() -> None:
    row = ROW | {"status": "failed", "error_code": "PAYMENT_FAILED", "error_description": "Payment failed"}
    body = payment_public(row, "f" * 64)
    assert body["error_code"] == "PAYMENT_FAILED"
    assert body["error_description"] == "Payment failed"
    assert "signature" not in body and "vpa" not in body


def test_the_signature_is_the_hex_hmac_of_order_and_payment_ids() -> None:
    # Reference value computed independently: printf 'order_1|pay_1' | openssl dgst -sha256 -hmac secret
    assert checkout_signature("secret", "order_1", "pay_1") == (
        "52115a0d3400de9e86aade1f1b6eba9e8974604f4e267a9e9a16633a4c8dd2cb"
    )
