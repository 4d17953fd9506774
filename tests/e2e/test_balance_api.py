"""The merchant's balance and ledger entries over HTTP, kept by the running projector."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from payflow import merchant_client, paid_payment, poll, refund_status


@pytest.fixture(scope="module")
def shop(gateway: Any) -> Iterator[httpx.Client]:
    """A merchant of its own, so its figures start at zero."""
    with merchant_client(gateway, "balance-shop") as client:
        yield client


def test_the_balance_shows_payments_captures_and_refunds_and_the_book_behind_it(shop: httpx.Client) -> None:
    assert shop.get("/api/v1/balance").json()["balances"] == []

    first, second = paid_payment(shop, 50000), paid_payment(shop, 30000)
    assert shop.post(f"/api/v1/payments/{first['id']}/capture", json={"amount": 50000}).status_code == 200
    rid = shop.post(f"/api/v1/payments/{second['id']}/refunds", json={"amount": 10000}).json()["id"]
    refund_status(shop, rid, "processed")

    want = {
        "currency": "INR",
        "payments_succeeded": 80000,
        "captured": 50000,
        "refunds_pending": 0,
        "refunds_processed": 10000,
        "payable": 70000,
        "available": 70000,
    }
    body = poll(lambda: shop.get("/api/v1/balance").json(), lambda b: b["balances"] == [want], 30, "the balance")
    assert set(body) == {"merchant_id", "balances"}

    entries = shop.get("/api/v1/ledger/entries", params={"count": 100}).json()
    assert entries["entity"] == "collection"
    assert entries["count"] == 4  # two payments settled; one refund through clearing, in two legs
    assert [(e["kind"], e["leg"]) for e in entries["items"]] == [
        ("refund", "clearing"),
        ("refund", "payable"),
        ("payment", "settle"),
        ("payment", "settle"),
    ]
    for entry in entries["items"]:
        assert sum(line["debit"] for line in entry["lines"]) == sum(line["credit"] for line in entry["lines"]) > 0
        assert entry["currency"] == "INR"
    refund_entries = [e for e in entries["items"] if e["kind"] == "refund"]
    assert {e["refund_id"] for e in refund_entries} == {rid}

    page = shop.get("/api/v1/ledger/entries", params={"count": 2, "skip": 2}).json()
    assert [e["id"] for e in page["items"]] == [e["id"] for e in entries["items"][2:]]


def test_balance_and_entries_need_credentials(gateway: Any) -> None:
    with httpx.Client(base_url=gateway.url, timeout=10) as anonymous:
        for path in ("/api/v1/balance", "/api/v1/ledger/entries"):
            r = anonymous.get(path)
            assert r.status_code == 401
            assert r.json()["error"]["code"] == "AUTHENTICATION_ERROR"
