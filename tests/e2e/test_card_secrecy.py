"""A card number and CVV never reach the event store, any table, or any process's logs: only network and last4."""

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from gatekit import AUTH, decided, new_order, start_gateway

pytestmark = pytest.mark.slow

NUMBER = "4532015112830366"
SPACED = "4532 0151 1283 0366"
CVV = "7391"
#: The CVV as a number on its own (not inside a longer number, hex id, or decimal).
CVV_ALONE = re.compile(rf"(?<![0-9A-Za-z.]){CVV}(?![0-9A-Za-z.])")
CARD = {"number": SPACED, "expiry_month": "12", "expiry_year": "2099", "cvv": CVV, "holder_name": "A Payer"}


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory, fresh_database: Callable[[], str], private_redis: Callable[[], str]
) -> Iterator[Any]:
    """A system of its own that logs everything it can (DEBUG), with payments in every path a card takes."""
    gw = start_gateway(tmp_path_factory.mktemp("secrecy"), fresh_database(), private_redis(), LOG_LEVEL="DEBUG")
    try:
        with httpx.Client(base_url=gw.url, headers=AUTH, timeout=10) as api:
            made = []
            for number in (NUMBER, SPACED, NUMBER.replace("0151", "-0151-")):
                order = new_order(api)
                r = api.post(
                    "/api/v1/payments",
                    json={"order_id": order["id"], "method": "card", "card": {**CARD, "number": number}},
                )
                assert r.status_code == 201, r.text
                made.append(r.json()["id"])
            order = new_order(api)
            public = httpx.post(
                f"{gw.url}/api/v1/payments/public",
                json={"order_id": order["id"], "method": "card", "card": CARD},
                timeout=10,
            )
            made.append(public.json()["id"])
            keyed = api.post(
                "/api/v1/payments",
                json={"order_id": new_order(api)["id"], "method": "card", "card": CARD},
                headers={"Idempotency-Key": "secrecy-1"},
            )
            made.append(keyed.json()["id"])
            refused = [
                {**CARD, "expiry_year": "2020"},  # EXPIRED_CARD
                {**CARD, "number": NUMBER[:-1] + "7"},  # INVALID_CARD
                {**CARD, "cvv": CVV + "0"},  # INVALID_CARD (cvv)
                {**CARD, "holder_name": ""},  # BAD_REQUEST_ERROR
                {**CARD, "pin": CVV},  # unknown field
                {**CARD, NUMBER: CVV},  # the number as a key
                {**CARD, "number": int(NUMBER), "cvv": int(CVV), "expiry_month": "xx"},
            ]
            for card in refused:
                r = api.post("/api/v1/payments", json={"order_id": order["id"], "method": "card", "card": card})
                assert r.status_code == 400, r.text
                assert NUMBER not in r.text and not CVV_ALONE.search(r.text), r.text
            r = api.post("/api/v1/orders", json={"amount": 500, "card_number": NUMBER, "cvv": CVV})
            assert r.status_code == 400 and NUMBER not in r.text
            for payment_id in made:
                decided(api, payment_id)
            yield gw
    finally:
        gw.close()


def leaks(text: str) -> list[str]:
    found = []
    digits_only = re.sub(r"[\s-]", "", text)
    if NUMBER in digits_only or NUMBER in text or SPACED in text:
        found.append("card number")
    if CVV_ALONE.search(text):
        found.append("cvv")
    if re.search(r'"cvv"\s*:', text, re.IGNORECASE):
        found.append("a cvv field")
    return found


def test_no_event_holds_a_card_number_or_cvv(system: Any) -> None:
    with psycopg.connect(system.env["DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT type, data::text, metadata::text FROM events").fetchall()
    assert any(r[0] == "payment.created.v1" and '"card_last4": "0366"' in r[1] for r in rows)
    for row in rows:
        assert leaks(row[1] + row[2]) == [], row


def test_no_table_holds_a_card_number_or_cvv(system: Any) -> None:
    with psycopg.connect(system.env["DATABASE_URL"]) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert {"events", "payments", "orders", "merchants"} <= set(tables)
        for table in tables:
            for (row,) in conn.execute(f'SELECT row_to_json(t)::text FROM public."{table}" t'):
                assert leaks(row) == [], (table, row)
        cards = conn.execute("SELECT card_network, card_last4 FROM payments").fetchall()
    assert set(cards) == {("visa", "0366")}


def test_no_log_line_holds_a_card_number_or_cvv(system: Any) -> None:
    logs: Path = system.logs
    files = sorted(logs.glob("*.log"))
    assert {f.stem for f in files} >= {"api", "worker", "dispatcher", "projector"}
    text = {f.name: f.read_text(errors="replace") for f in files}
    assert '"path": "/api/v1/payments"' in text["api.log"] or '"path":"/api/v1/payments"' in text["api.log"]
    for name, content in text.items():
        for line in content.splitlines():
            assert leaks(line) == [], (name, line)
