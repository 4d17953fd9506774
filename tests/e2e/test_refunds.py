"""Refunds over HTTP against the running system: full and partial, processed once, never more than paid."""

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from payflow import AUTH, events_of, merchant_client, paid_payment, refund_status

REFUND_KEYS = {
    "id",
    "payment_id",
    "amount",
    "reason",
    "notes",
    "speed_processed",
    "status",
    "created_at",
    "processed_at",
}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="module")
def other(gateway: Any) -> Iterator[httpx.Client]:
    with merchant_client(gateway, "refunds-other") as client:
        yield client


def refund(api: httpx.Client, payment_id: str, **body: Any) -> httpx.Response:
    return api.post(f"/api/v1/payments/{payment_id}/refunds", json=body)


class TestRequestingRefunds:
    def test_a_partial_refund_is_created_pending_and_then_processed(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 50000)
        r = refund(api, pay["id"], amount=20000, reason="customer asked")
        assert r.status_code == 201, r.text
        body = r.json()
        assert set(body) == REFUND_KEYS
        assert re.fullmatch(r"rfnd_[A-Za-z0-9]{16}", body["id"])
        assert body["payment_id"] == pay["id"]
        assert (body["amount"], body["reason"], body["status"], body["processed_at"]) == (
            20000,
            "customer asked",
            "pending",
            None,
        )
        assert ISO.match(body["created_at"])

        done = refund_status(api, body["id"], "processed")
        assert ISO.match(done["processed_at"])
        assert {k: done[k] for k in ("id", "payment_id", "amount", "reason", "created_at")} == {
            k: body[k] for k in ("id", "payment_id", "amount", "reason", "created_at")
        }

        payment = api.get(f"/api/v1/payments/{pay['id']}").json()
        assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == (
            "success",
            20000,
            "partial",
        )

    def test_refunds_adding_up_to_the_amount_make_the_payment_fully_refunded(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 30000)
        assert refund(api, pay["id"], amount=10000).status_code == 201
        assert refund(api, pay["id"], amount=20000).status_code == 201
        over = refund(api, pay["id"], amount=1)
        assert over.status_code == 400
        assert over.json()["error"]["description"] == "Refund amount exceeds available amount"
        payment = api.get(f"/api/v1/payments/{pay['id']}").json()
        assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == ("success", 30000, "full")

    def test_a_refund_without_an_amount_refunds_the_whole_payment(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 12345)
        r = refund(api, pay["id"])
        assert r.status_code == 201, r.text
        assert (r.json()["amount"], r.json()["reason"]) == (12345, None)

    def test_the_singular_refund_path_is_an_alias(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 10000)
        r = api.post(f"/api/v1/payments/{pay['id']}/refund", json={"amount": 500})
        assert r.status_code == 201, r.text
        assert r.json()["payment_id"] == pay["id"]

    def test_a_refund_is_processed_exactly_once(self, api: httpx.Client, gateway: Any) -> None:
        pay = paid_payment(api, 10000)
        rid = refund(api, pay["id"], amount=2500).json()["id"]
        refund_status(api, rid, "processed")
        types = [
            t for t, d in events_of(gateway.env["DATABASE_URL"], f"payment-{pay['id']}") if d.get("refund_id") == rid
        ]
        assert types == ["refund.requested.v1", "refund.processed.v1"]


class TestConcurrentRefunds:
    def test_fifty_concurrent_400_rupee_refunds_of_a_500_rupee_payment_accept_exactly_one(
        self, api: httpx.Client, gateway: Any
    ) -> None:
        pay = paid_payment(api, 50000)
        start = threading.Barrier(50)

        def one(_: int) -> httpx.Response:
            with httpx.Client(base_url=gateway.url, headers=dict(api.headers), timeout=60) as client:
                start.wait()
                return refund(client, pay["id"], amount=40000)

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(one, range(50)))

        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201] + [400] * 49, [r.text for r in answers if r.status_code not in (201, 400)]
        for r in answers:
            if r.status_code == 400:
                assert r.json()["error"] == {
                    "code": "BAD_REQUEST_ERROR",
                    "description": "Refund amount exceeds available amount",
                    "field": "amount",
                }
        stream = events_of(gateway.env["DATABASE_URL"], f"payment-{pay['id']}")
        assert [d["amount"] for t, d in stream if t == "refund.requested.v1"] == [40000]
        listed = api.get(f"/api/v1/payments/{pay['id']}/refunds").json()
        assert listed["count"] == 1


class TestReadingRefunds:
    def test_refunds_are_listed_per_payment_and_per_merchant_newest_first(self, api: httpx.Client) -> None:
        pay = paid_payment(api, 10000)
        first = refund(api, pay["id"], amount=100).json()
        second = refund(api, pay["id"], amount=200).json()
        of_payment = api.get(f"/api/v1/payments/{pay['id']}/refunds").json()
        assert of_payment["entity"] == "collection"
        assert [i["id"] for i in of_payment["items"]] == [second["id"], first["id"]]
        assert all(set(i) == REFUND_KEYS for i in of_payment["items"])
        mine = api.get("/api/v1/refunds", params={"count": 100}).json()
        assert {first["id"], second["id"]} <= {i["id"] for i in mine["items"]}

    def test_an_unknown_refund_is_not_found(self, api: httpx.Client) -> None:
        r = api.get("/api/v1/refunds/rfnd_0000000000000000")
        assert r.status_code == 404
        assert r.json()["error"] == {"code": "NOT_FOUND_ERROR", "description": "Refund not found"}


class TestAnotherMerchant:
    def test_refunding_another_merchants_payment_answers_not_found(
        self, api: httpx.Client, other: httpx.Client
    ) -> None:
        pay = paid_payment(api, 10000)
        r = refund(other, pay["id"], amount=100)
        assert r.status_code == 404
        assert r.json()["error"] == {"code": "NOT_FOUND_ERROR", "description": "Payment not found"}
        assert api.get(f"/api/v1/payments/{pay['id']}").json()["amount_refunded"] == 0

    def test_another_merchants_refunds_are_not_found(self, api: httpx.Client, other: httpx.Client) -> None:
        pay = paid_payment(api, 10000)
        rid = refund(api, pay["id"], amount=100).json()["id"]
        assert other.get(f"/api/v1/refunds/{rid}").json()["error"]["description"] == "Refund not found"
        assert other.get(f"/api/v1/payments/{pay['id']}/refunds").status_code == 404
        assert rid not in {i["id"] for i in other.get("/api/v1/refunds").json()["items"]}

    def test_refunding_an_unknown_payment_answers_not_found(self, api: httpx.Client) -> None:
        r = refund(api, "pay_0000000000000000", amount=100)
        assert r.status_code == 404
        assert r.json()["error"]["description"] == "Payment not found"


MALFORMED: list[tuple[str, Any]] = [
    ("amount as text", {"amount": "100"}),
    ("fractional amount", {"amount": 100.5}),
    ("amount as float", {"amount": 100.0}),
    ("negative amount", {"amount": -100}),
    ("zero amount", {"amount": 0}),
    ("boolean amount", {"amount": True}),
    ("amount as object", {"amount": {"value": 100}}),
    ("reason not text", {"amount": 100, "reason": 5}),
    ("reason too long", {"amount": 100, "reason": "x" * 256}),
    ("unknown field", {"amount": 100, "colour": "red"}),
    ("unknown speed", {"amount": 100, "speed": "instant"}),
    ("array body", [100]),
    ("text body", "100"),
]


@pytest.fixture(scope="module")
def payment(gateway: Any) -> dict[str, Any]:
    """A paid payment that only malformed requests touch."""
    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as api:
        return paid_payment(api, 10000)


class TestMalformedRefunds:
    @pytest.mark.parametrize(("case", "body"), MALFORMED, ids=[c for c, _ in MALFORMED])
    def test_a_malformed_refund_is_a_bad_request(
        self, api: httpx.Client, payment: dict[str, Any], case: str, body: Any
    ) -> None:
        r = api.post(f"/api/v1/payments/{payment['id']}/refunds", json=body)
        assert r.status_code == 400, (case, r.text)
        assert r.json()["error"]["code"] == "BAD_REQUEST_ERROR"

    @pytest.mark.parametrize("raw", [b"{", b"amount=100", b'{"amount": 1e2}', b""])
    def test_a_body_that_is_not_json_is_a_bad_request(
        self, api: httpx.Client, payment: dict[str, Any], raw: bytes
    ) -> None:
        r = api.post(
            f"/api/v1/payments/{payment['id']}/refunds", content=raw, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "BAD_REQUEST_ERROR"

    def test_no_malformed_request_created_a_refund(self, api: httpx.Client, payment: dict[str, Any]) -> None:
        assert api.get(f"/api/v1/payments/{payment['id']}/refunds").json()["count"] == 0
