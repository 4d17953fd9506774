"""Read rows → the public bodies of SPEC.md, shared by API responses and webhook payloads."""

from typing import Any

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
        "error_code": row["error_code"],
        "error_description": row["error_description"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if not public:
        body["merchant_id"] = row["merchant_id"]
    return body
