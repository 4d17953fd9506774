"""Webhook signatures: the hex HMAC of SPEC.md and the Standard Webhooks scheme, both keyed with the secret's bytes.

``X-Webhook-Signature`` is hex HMAC-SHA256 of the body. ``webhook-signature`` is ``v1,`` + base64 HMAC-SHA256
of ``"{webhook-id}.{webhook-timestamp}.{body}"`` (standardwebhooks.com), keyed with the same UTF-8 bytes, so the
`standardwebhooks` libraries verify it when given ``base64(secret)``.
"""

import base64
import hashlib
import hmac

#: How far a webhook-timestamp may be from the receiver's clock (the Standard Webhooks default).
TOLERANCE_S = 300


def hex_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of one attempt: content type, both signatures, and the Standard Webhooks id and time."""
    return {
        "Content-Type": "application/json",
        "X-Webhook-Signature": hex_signature(secret, body),
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, webhook_id, timestamp, body),
    }


def verify_hex(secret: str, body: bytes, signature: str | None) -> bool:
    return signature is not None and hmac.compare_digest(hex_signature(secret, body), signature)


def verify_standard(secret: str, body: bytes, given: dict[str, str], now: float) -> bool:
    """True when one ``v1`` signature matches and the timestamp is within ``TOLERANCE_S`` of ``now``."""
    webhook_id, stamp, signatures = (
        given.get("webhook-id"),
        given.get("webhook-timestamp"),
        given.get("webhook-signature"),
    )
    if not (webhook_id and stamp and signatures) or not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_S:
        return False
    expected = standard_signature(secret, webhook_id, int(stamp), body)
    return any(hmac.compare_digest(expected, s) for s in signatures.split(" ") if s.startswith("v1,"))
