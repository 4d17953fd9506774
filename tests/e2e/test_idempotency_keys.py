"""Idempotency-Key over HTTP: one object per key however often and however concurrently it is sent, the first
answer replayed byte for byte, a key never reused for another request."""

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from payflow import UPI, merchant_client, order, paid_payment

CARD = {"number": "4111111111111111", "expiry_month": "12", "expiry_year": "2099", "cvv": "123", "holder_name": "A"}


def key() -> str:
    return f"test-{secrets.token_hex(8)}"


def keyed(k: str) -> dict[str, str]:
    return {"Idempotency-Key": k}


def stored_keys(gateway: Any, k: str) -> list[dict[str, Any]]:
    with psycopg.connect(gateway.env["DATABASE_URL"]) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM idempotency_keys WHERE key = %s", (k,))
        return cur.fetchall()


@pytest.fixture(scope="module")
def other(gateway: Any) -> Iterator[httpx.Client]:
    with merchant_client(gateway, "idempotency-other") as client:
        yield client


class TestPayments:
    def test_a_hundred_concurrent_requests_with_one_key_create_one_payment_and_answer_the_same_bytes(
        self, api: httpx.Client, gateway: Any
    ) -> None:
        o = order(api, 50000)
        k = key()
        start = threading.Barrier(100)

        def one(_: int) -> httpx.Response:
            with httpx.Client(base_url=gateway.url, headers=dict(api.headers), timeout=60) as client:
                start.wait()
                return client.post("/api/v1/payments", json={"order_id": o["id"], **UPI}, headers=keyed(k))

        with ThreadPoolExecutor(100) as pool:
            answers = list(pool.map(one, range(100)))

        assert {r.status_code for r in answers} == {201}, {r.text for r in answers}
        assert len({r.content for r in answers}) == 1
        payment_id = answers[0].json()["id"]
        listed = api.get(f"/api/v1/orders/{o['id']}/payments").json()
        assert [p["id"] for p in listed["items"]] == [payment_id]
        with psycopg.connect(gateway.env["DATABASE_URL"]) as conn:
            created = conn.execute(
                "SELECT count(*) FROM events WHERE type = 'payment.created.v1' AND data->>'order_id' = %s", (o["id"],)
            ).fetchone()
        assert created == (1,)

    def test_a_repeat_after_the_payment_was_decided_still_replays_the_first_answer(self, api: httpx.Client) -> None:
        o = order(api, 10000)
        k = key()
        first = api.post("/api/v1/payments", json={"order_id": o["id"], **UPI}, headers=keyed(k))
        assert first.status_code == 201
        paid = paid_payment(api, 10000)  # give the worker time to decide the first one as well
        assert paid["status"] == "success"
        again = api.post("/api/v1/payments", json={"order_id": o["id"], **UPI}, headers=keyed(k))
        assert (again.status_code, again.content) == (201, first.content)
        assert again.headers["Idempotent-Replayed"] == "true"

    def test_the_same_body_written_differently_is_the_same_request(self, api: httpx.Client) -> None:
        o = order(api, 10000)
        k = key()
        first = api.post(
            "/api/v1/payments",
            content=f'{{"order_id": "{o["id"]}", "method": "upi", "vpa": "payer@okbank"}}',
            headers={**keyed(k), "Content-Type": "application/json"},
        )
        again = api.post(
            "/api/v1/payments",
            content=f'{{"vpa":"payer@okbank","method":"upi","order_id":"{o["id"]}"}}',
            headers={**keyed(k), "Content-Type": "application/json"},
        )
        assert (first.status_code, again.content) == (201, first.content)

    def test_the_key_is_stored_with_its_request_and_answer_for_24_hours(self, api: httpx.Client, gateway: Any) -> None:
        o = order(api, 10000)
        k = key()
        r = api.post("/api/v1/payments", json={"order_id": o["id"], **UPI}, headers=keyed(k))
        [row] = stored_keys(gateway, k)
        assert (row["request_method"], row["request_path"], row["response_status"]) == ("POST", "/api/v1/payments", 201)
        assert bytes(row["response_body"]) == r.content
        assert (row["expires_at"] - row["created_at"]).total_seconds() == 24 * 3600


class TestMisuse:
    def test_a_key_reused_with_another_body_is_refused(self, api: httpx.Client) -> None:
        o = order(api, 10000)
        k = key()
        first = api.post("/api/v1/payments", json={"order_id": o["id"], **UPI}, headers=keyed(k))
        other_body = api.post(
            "/api/v1/payments", json={"order_id": o["id"], "method": "card", "card": CARD}, headers=keyed(k)
        )
        assert other_body.status_code == 400
        error = other_body.json()["error"]
        assert error["code"] == "BAD_REQUEST_ERROR"
        assert "different request" in error["description"]
        assert [p["id"] for p in api.get(f"/api/v1/orders/{o['id']}/payments").json()["items"]] == [first.json()["id"]]
        # The refusal changed nothing: the first request still replays.
        assert (
            api.post("/api/v1/payments", json={"order_id": o["id"], **UPI}, headers=keyed(k)).content == first.content
        )

    def test_a_key_reused_on_another_path_is_refused(self, api: httpx.Client) -> None:
        k = key()
        assert api.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(k)).status_code == 201
        r = api.post("/api/v1/payments", json={"order_id": "order_x", **UPI}, headers=keyed(k))
        assert r.status_code == 400
        assert "different request" in r.json()["error"]["description"]

    def test_a_failed_request_stores_nothing_so_the_key_can_be_used_again(
        self, api: httpx.Client, gateway: Any
    ) -> None:
        o = order(api, 10000)
        k = key()
        bad = api.post("/api/v1/payments", json={"order_id": o["id"], "method": "upi", "vpa": "nope"}, headers=keyed(k))
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "INVALID_VPA")
        malformed = api.post("/api/v1/payments", json={"order_id": o["id"], "method": 5}, headers=keyed(k))
        assert malformed.status_code == 400
        assert stored_keys(gateway, k) == []
        good = api.post("/api/v1/payments", json={"order_id": o["id"], **UPI}, headers=keyed(k))
        assert good.status_code == 201

    @pytest.mark.parametrize("bad_key", [b"", b"x" * 256, "naïve-key".encode(), b"tab\tkey"])
    def test_a_malformed_key_is_a_bad_request(self, api: httpx.Client, bad_key: bytes) -> None:
        r = api.post("/api/v1/orders", json={"amount": 10000}, headers={"Idempotency-Key": bad_key})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "BAD_REQUEST_ERROR"

    def test_keys_are_scoped_per_merchant(self, api: httpx.Client, other: httpx.Client) -> None:
        k = key()
        mine = api.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(k))
        theirs = other.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(k))
        assert (mine.status_code, theirs.status_code) == (201, 201)
        assert mine.json()["id"] != theirs.json()["id"]
        assert mine.json()["merchant_id"] != theirs.json()["merchant_id"]


class TestEveryCreatingPost:
    def test_an_order_is_created_once_per_key(self, api: httpx.Client) -> None:
        k = key()
        first = api.post("/api/v1/orders", json={"amount": 10000, "receipt": "r1"}, headers=keyed(k))
        again = api.post("/api/v1/orders", json={"amount": 10000, "receipt": "r1"}, headers=keyed(k))
        assert (first.status_code, again.status_code, again.content) == (201, 201, first.content)

    def test_a_public_checkout_payment_is_created_once_per_key(self, api: httpx.Client, gateway: Any) -> None:
        o = order(api, 10000)
        k = key()
        with httpx.Client(base_url=gateway.url, timeout=10) as public:
            first = public.post("/api/v1/payments/public", json={"order_id": o["id"], **UPI}, headers=keyed(k))
            again = public.post("/api/v1/payments/public", json={"order_id": o["id"], **UPI}, headers=keyed(k))
        assert (first.status_code, again.content) == (201, first.content)
        assert api.get(f"/api/v1/orders/{o['id']}/payments").json()["count"] == 1
        # Scoped to the order's merchant: the merchant's own key space now holds it.
        [row] = stored_keys(gateway, k)
        assert str(row["merchant_id"]) == o["merchant_id"]

    def test_a_refund_is_created_once_per_key(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 10000)
        k = key()
        answers = [
            api.post(f"/api/v1/payments/{pay['id']}/refunds", json={"amount": 6000}, headers=keyed(k)) for _ in range(3)
        ]
        assert [r.status_code for r in answers] == [201, 201, 201]
        assert len({r.content for r in answers}) == 1
        assert api.get(f"/api/v1/payments/{pay['id']}/refunds").json()["count"] == 1

    def test_a_repeated_capture_with_its_key_replays_the_capture(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 10000)
        k = key()
        first = api.post(f"/api/v1/payments/{pay['id']}/capture", json={"amount": 10000}, headers=keyed(k))
        again = api.post(f"/api/v1/payments/{pay['id']}/capture", json={"amount": 10000}, headers=keyed(k))
        assert (first.status_code, again.status_code, again.content) == (200, 200, first.content)
        unkeyed = api.post(f"/api/v1/payments/{pay['id']}/capture", json={"amount": 10000})
        assert unkeyed.json()["error"]["description"] == "Payment not in capturable state"
