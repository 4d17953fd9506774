"""Read rows → the public bodies of SPEC.md, shared by API responses and webhook payloads."""

import json
from typing import Any

from projections.jsjson import stringify
from projections.timefmt import iso


def order(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "merchant_id": row["merchant_id"],
        "amount": row["amount"],
        "currency": row["currency"],
        "receipt": row["receipt"],
        "notes": row["notes"],
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def order_public(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "amount": row["amount"], "currency": row["currency"], "status": row["status"]}


def payment(row: dict[str, Any], *, public: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row["id"],
        "order_id": row["order_id"],
        "amount": row["amount"],
        "currency": row["currency"],
        "method": row["method"],
    }
    if row["method"] == "upi":
        body["vpa"] = row["vpa"]
    else:
        body["card_network"] = row["card_network"]
        body["card_last4"] = row["card_last4"]
    body |= {
        "status": row["status"],
        "captured": row["captured"],
        "amount_refunded": row["amount_refunded"],
        "refund_status": refund_status(row["amount"], row["amount_refunded"]),
        "error_code": row["error_code"],
        "error_description": row["error_description"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if not public:
        body["merchant_id"] = row["merchant_id"]
    return body


def payment_public(row: dict[str, Any], signature: str | None) -> dict[str, Any]:
    """What a checkout page may see of a payment: no payer details, no capture or refund state. The error only
    once it failed; ``signature`` (given by the caller) only once it succeeded."""
    body: dict[str, Any] = {k: row[k] for k in ("id", "order_id", "amount", "currency", "method", "status")}
    if row["status"] == "failed":
        body |= {"error_code": row["error_code"], "error_description": row["error_description"]}
    if row["status"] == "success" and signature is not None:
        body["signature"] = signature
    return body


def refund_status(amount: int, refunded: int) -> str | None:
    """Razorpay's refund status of a payment: None, ``partial`` or ``full`` (pending refunds count)."""
    if refunded <= 0:
        return None
    return "full" if refunded >= amount else "partial"


def refund(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "payment_id": row["payment_id"],
        "amount": row["amount"],
        "reason": row["reason"],
        "notes": row.get("notes") or {},
        # Every refund goes back at normal speed (Razorpay's ``speed_processed``), whatever was asked.
        "speed_processed": "normal",
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "processed_at": iso(row["processed_at"]),
    }


def balance(row: dict[str, Any]) -> dict[str, Any]:
    """A merchant's money in one currency; ``available`` is what is payable once pending refunds go out."""
    return {
        "currency": row["currency"],
        "payments_succeeded": row["succeeded"],
        "captured": row["captured"],
        "refunds_pending": row["refunds_pending"],
        "refunds_processed": row["refunds_processed"],
        "payable": row["payable"],
        "available": row["payable"] - row["refunds_pending"],
    }


def ledger_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "leg": row["leg"],
        "kind": row["kind"],
        "currency": row["currency"],
        "payment_id": row["payment_id"],
        "refund_id": row["refund_id"],
        "lines": row["lines"] or [],
        "created_at": iso(row["occurred_at"]),
    }


def webhook_envelope(event: str, timestamp: int, data: dict[str, Any]) -> str:
    """A webhook body as SPEC.md fixes it, ``{"event", "timestamp", "data"}``, in JSON.stringify's exact form."""
    return stringify({"event": event, "timestamp": timestamp, "data": data})


def webhook_log(row: dict[str, Any]) -> dict[str, Any]:
    """A delivery as the webhook log lists it."""
    return {
        "id": row["id"],
        "event": row["event"],
        "status": row["status"],
        "attempts": row["attempts"],
        "created_at": iso(row["created_at"]),
        "last_attempt_at": iso(row["last_attempt_at"]),
        "next_retry_at": iso(row["next_retry_at"]),
        "response_code": row["response_code"],
    }


def webhook_log_detail(row: dict[str, Any]) -> dict[str, Any]:
    """One delivery with what was sent (``payload``, in the order of the bytes sent) and what came back."""
    return {
        **webhook_log(row),
        "merchant_id": row["merchant_id"],
        "payload": json.loads(row["body"]),
        "response_body": row["response_body"],
        "error": row["last_error"],
        "updated_at": iso(row["updated_at"]),
    }
