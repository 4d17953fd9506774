"""The checkout's success signature, and the public view of a payment that carries it."""

import hashlib
import hmac
from typing import Any

import psycopg

from projections import bodies, merchants


def checkout_signature(api_secret: str, order_id: str, payment_id: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``order_id|payment_id`` keyed with the merchant's API secret (Razorpay's
    ``razorpay_signature``): the merchant's server recomputes it, so a forged browser callback proves nothing."""
    return hmac.new(api_secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


async def public_payment(conn: psycopg.AsyncConnection[Any], row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as ``GET /api/v1/payments/{id}/public`` shows it; signed once it succeeded (unsigned when the
    merchant's secret was shredded)."""
    signature = None
    if row["status"] == "success":
        secret = await merchants.api_secret(conn, row["merchant_id"])
        signature = None if secret is None else checkout_signature(secret, row["order_id"], row["id"])
    return bodies.payment_public(row, signature)
