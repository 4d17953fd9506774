"""SPEC.md's contract for health, orders, payments, the test endpoints and authentication, over real HTTP."""

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from gatekit import (
    AUTH,
    CARD,
    ORDER_ID,
    PAY_ID,
    TIMESTAMP,
    UPI,
    decided,
    event_types,
    new_merchant,
    new_order,
    new_payment,
    poll,
)

TEST_MERCHANT_ID = "550e8400-e29b-41d4-a716-446655440000"
UNAUTHORIZED = {"error": {"code": "AUTHENTICATION_ERROR", "description": "Invalid API credentials"}}
ORDER_KEYS = {"id", "merchant_id", "amount", "currency", "receipt", "notes", "status", "created_at", "updated_at"}
PAYMENT_KEYS = {
    "id",
    "order_id",
    "amount",
    "currency",
    "method",
    "status",
    "captured",
    "error_code",
    "error_description",
    "created_at",
    "updated_at",
}


@pytest.fixture
def anonymous(gateway: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def other(gateway: Any) -> Iterator[httpx.Client]:
    """A client of a second merchant."""
    creds = new_merchant(gateway.env)
    headers = {"X-Api-Key": creds["api_key"], "X-Api-Secret": creds["api_secret"]}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=10) as client:
        yield client


def assert_error(r: httpx.Response, status: int, code: str, description: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == code
    assert isinstance(error["description"], str) and error["description"]
    if description is not None:
        assert error["description"] == description


class TestHealth:
    def test_health_reports_every_part_connected_and_running(self, anonymous: httpx.Client) -> None:
        r = anonymous.get("/health")
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"status", "database", "redis", "worker", "timestamp"}
        assert (body["status"], body["database"], body["redis"], body["worker"]) == (
            "healthy",
            "connected",
            "connected",
            "running",
        )
        assert TIMESTAMP.match(body["timestamp"])

    def test_the_api_documents_itself(self, anonymous: httpx.Client) -> None:
        assert anonymous.get("/docs").status_code == 200
        paths = anonymous.get("/openapi.json").json()["paths"]
        assert {"/api/v1/orders", "/api/v1/payments", "/api/v1/payments/{payment_id}"} <= set(paths)


class TestOrders:
    def test_an_order_is_created_with_the_full_body(self, api: httpx.Client) -> None:
        r = api.post("/api/v1/orders", json={"amount": 50000})
        assert r.status_code == 201
        body = r.json()
        assert set(body) == ORDER_KEYS
        assert ORDER_ID.match(body["id"])
        assert body["merchant_id"] == TEST_MERCHANT_ID
        assert (body["amount"], body["currency"], body["receipt"], body["notes"], body["status"]) == (
            50000,
            "INR",
            None,
            {},
            "created",
        )
        assert TIMESTAMP.match(body["created_at"]) and body["updated_at"] == body["created_at"]

    def test_currency_receipt_and_notes_are_kept(self, api: httpx.Client) -> None:
        notes = {"customer": "Asha", "city": "पुणे", "n": 1, "big": 2**53 - 1, "ok": True}
        body = new_order(api, 100, currency="USD", receipt="rcpt_42", notes=notes)
        assert (body["amount"], body["currency"], body["receipt"], body["notes"]) == (100, "USD", "rcpt_42", notes)
        assert api.get(f"/api/v1/orders/{body['id']}").json()["notes"] == notes

    @pytest.mark.parametrize("amount", [99, 0, -1, -50000])
    def test_an_amount_below_100_is_refused(self, api: httpx.Client, amount: int) -> None:
        r = api.post("/api/v1/orders", json={"amount": amount})
        assert_error(r, 400, "BAD_REQUEST_ERROR", "amount must be at least 100")

    def test_an_order_reads_back_as_it_was_created(self, api: httpx.Client) -> None:
        created = new_order(api, 12345, receipt="r1")
        r = api.get(f"/api/v1/orders/{created['id']}")
        assert (r.status_code, r.json()) == (200, created)

    def test_an_unknown_order_is_not_found(self, api: httpx.Client, anonymous: httpx.Client) -> None:
        assert_error(api.get("/api/v1/orders/order_0000000000000000"), 404, "NOT_FOUND_ERROR", "Order not found")
        r = anonymous.get("/api/v1/orders/order_0000000000000000/public")
        assert_error(r, 404, "NOT_FOUND_ERROR", "Order not found")

    def test_the_public_view_needs_no_credentials_and_shows_four_fields(
        self, api: httpx.Client, anonymous: httpx.Client
    ) -> None:
        created = new_order(api, 50000)
        r = anonymous.get(f"/api/v1/orders/{created['id']}/public")
        assert r.status_code == 200
        assert r.json() == {"id": created["id"], "amount": 50000, "currency": "INR", "status": "created"}

    def test_orders_are_listed_newest_first_with_count_and_skip(self, api: httpx.Client) -> None:
        made = [new_order(api, 1000 + i)["id"] for i in range(3)]
        r = api.get("/api/v1/orders", params={"count": 3})
        assert r.status_code == 200
        body = r.json()
        assert (body["entity"], body["count"]) == ("collection", 3)
        assert [o["id"] for o in body["items"]] == made[::-1]
        assert set(body["items"][0]) == ORDER_KEYS
        skipped = api.get("/api/v1/orders", params={"count": 1, "skip": 1}).json()
        assert [o["id"] for o in skipped["items"]] == [made[1]]

    def test_order_ids_are_distinct(self, api: httpx.Client) -> None:
        ids = [new_order(api)["id"] for _ in range(20)]
        assert len(set(ids)) == 20 and all(ORDER_ID.match(i) for i in ids)

    def test_an_orders_payments_are_listed(self, api: httpx.Client) -> None:
        order_id = new_order(api)["id"]
        first = new_payment(api, order_id)
        second = new_payment(api, order_id, method="card", card=CARD)
        body = api.get(f"/api/v1/orders/{order_id}/payments").json()
        assert (body["entity"], body["count"]) == ("collection", 2)
        assert {p["id"] for p in body["items"]} == {first["id"], second["id"]}
        assert all(p["order_id"] == order_id for p in body["items"])
        r = api.get("/api/v1/orders/order_0000000000000000/payments")
        assert_error(r, 404, "NOT_FOUND_ERROR", "Order not found")


class TestPayments:
    def test_a_upi_payment_is_created_pending_with_the_orders_amount(self, api: httpx.Client) -> None:
        order = new_order(api, 43210, currency="INR")
        r = api.post("/api/v1/payments", json={"order_id": order["id"], **UPI})
        assert r.status_code == 201
        body = r.json()
        assert PAYMENT_KEYS | {"vpa"} <= set(body)
        assert "card_network" not in body and "card_last4" not in body
        assert PAY_ID.match(body["id"])
        assert (body["order_id"], body["amount"], body["currency"], body["method"], body["vpa"]) == (
            order["id"],
            43210,
            "INR",
            "upi",
            "payer@okbank",
        )
        assert (body["status"], body["captured"], body["error_code"], body["error_description"]) == (
            "pending",
            False,
            None,
            None,
        )
        assert TIMESTAMP.match(body["created_at"])

    def test_a_card_payment_shows_only_network_and_last_four(self, api: httpx.Client) -> None:
        order = new_order(api)
        card = {**CARD, "number": "5555 5555 5555 4444"}
        r = api.post("/api/v1/payments", json={"order_id": order["id"], "method": "card", "card": card})
        assert r.status_code == 201
        body = r.json()
        assert (body["method"], body["card_network"], body["card_last4"]) == ("card", "mastercard", "4444")
        assert "vpa" not in body and "card" not in body and "5555555555554444" not in r.text

    def test_a_payment_is_decided_and_pays_its_order(self, api: httpx.Client) -> None:
        order = new_order(api)
        created = new_payment(api, order["id"])
        assert decided(api, created["id"])["status"] == "success"
        body = api.get(f"/api/v1/payments/{created['id']}").json()
        assert PAYMENT_KEYS | {"vpa"} <= set(body)
        assert (body["status"], body["error_code"], body["error_description"]) == ("success", None, None)
        assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "paid"

    def test_a_paid_order_takes_no_new_payment(self, api: httpx.Client) -> None:
        order = new_order(api)
        decided(api, new_payment(api, order["id"])["id"])
        r = api.post("/api/v1/payments", json={"order_id": order["id"], **UPI})
        assert_error(r, 400, "BAD_REQUEST_ERROR")

    def test_the_public_checkout_creates_a_payment_without_credentials(
        self, api: httpx.Client, anonymous: httpx.Client
    ) -> None:
        order = new_order(api)
        r = anonymous.post("/api/v1/payments/public", json={"order_id": order["id"], "method": "card", "card": CARD})
        assert r.status_code == 201
        body = r.json()
        assert "merchant_id" not in body
        assert (body["order_id"], body["status"], body["card_network"], body["card_last4"]) == (
            order["id"],
            "pending",
            "visa",
            "1111",
        )
        public = anonymous.get(f"/api/v1/payments/{body['id']}/public")
        assert public.status_code == 200
        # Only what a checkout page needs (issue 7, item 8): no payer, capture or merchant fields.
        shown, needed = set(public.json()), {"id", "order_id", "amount", "currency", "method", "status"}
        assert needed <= shown <= needed | {"signature", "error_code", "error_description"}
        assert api.get(f"/api/v1/payments/{body['id']}").status_code == 200

    def test_a_payment_on_an_unknown_order_is_not_found(self, api: httpx.Client, anonymous: httpx.Client) -> None:
        body = {"order_id": "order_0000000000000000", **UPI}
        assert_error(api.post("/api/v1/payments", json=body), 404, "NOT_FOUND_ERROR", "Order not found")
        assert_error(anonymous.post("/api/v1/payments/public", json=body), 404, "NOT_FOUND_ERROR", "Order not found")

    def test_an_unknown_payment_is_not_found(self, api: httpx.Client, anonymous: httpx.Client) -> None:
        r = api.get("/api/v1/payments/pay_0000000000000000")
        assert_error(r, 404, "NOT_FOUND_ERROR", "Payment not found")
        r = anonymous.get("/api/v1/payments/pay_0000000000000000/public")
        assert_error(r, 404, "NOT_FOUND_ERROR", "Payment not found")

    @pytest.mark.parametrize("vpa", ["payer", "payer@", "@bank", "pay er@bank", "payer@bank.com"])
    def test_a_malformed_vpa_is_invalid_vpa(self, api: httpx.Client, vpa: str) -> None:
        order = new_order(api)
        r = api.post("/api/v1/payments", json={"order_id": order["id"], "method": "upi", "vpa": vpa})
        assert_error(r, 400, "INVALID_VPA")

    @pytest.mark.parametrize("number", ["4111111111111112", "411111111111", "41111111111111111111", "4111abcd11111111"])
    def test_a_bad_card_number_is_invalid_card(self, api: httpx.Client, number: str) -> None:
        order = new_order(api)
        card = {**CARD, "number": number}
        r = api.post("/api/v1/payments", json={"order_id": order["id"], "method": "card", "card": card})
        assert_error(r, 400, "INVALID_CARD")

    @pytest.mark.parametrize(("month", "year"), [("01", "2020"), ("12", "20")])
    def test_a_past_expiry_is_expired_card(self, api: httpx.Client, month: str, year: str) -> None:
        order = new_order(api)
        card = {**CARD, "expiry_month": month, "expiry_year": year}
        r = api.post("/api/v1/payments", json={"order_id": order["id"], "method": "card", "card": card})
        assert_error(r, 400, "EXPIRED_CARD")

    def test_a_card_expiring_this_month_is_accepted(self, api: httpx.Client) -> None:
        now = datetime.now(UTC)
        order = new_order(api)
        card = {**CARD, "expiry_month": f"{now.month:02d}", "expiry_year": str(now.year)}
        r = api.post("/api/v1/payments", json={"order_id": order["id"], "method": "card", "card": card})
        assert r.status_code == 201, r.text


class TestPaymentList:
    @pytest.fixture(scope="class")
    @classmethod
    def three(cls, gateway: Any) -> list[dict[str, Any]]:
        """Three decided payments, oldest first."""
        with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as api:
            made = [new_payment(api, new_order(api)["id"]) for _ in range(3)]
            for p in made:
                decided(api, p["id"])
            return [api.get(f"/api/v1/payments/{p['id']}").json() for p in made]

    def test_payments_are_listed_newest_first_as_a_collection(
        self, api: httpx.Client, three: list[dict[str, Any]]
    ) -> None:
        body = api.get("/api/v1/payments", params={"count": 100}).json()
        assert body["entity"] == "collection" and body["count"] == len(body["items"])
        ids = [p["id"] for p in body["items"]]
        mine = [i for i in ids if i in {p["id"] for p in three}]
        assert mine == [p["id"] for p in reversed(three)]
        stamps = [p["created_at"] for p in body["items"]]
        assert stamps == sorted(stamps, reverse=True)

    def test_count_and_skip_page_through_the_list(self, api: httpx.Client, three: list[dict[str, Any]]) -> None:
        two = api.get("/api/v1/payments", params={"count": 2}).json()["items"]
        assert len(two) == 2
        second = api.get("/api/v1/payments", params={"count": 1, "skip": 1}).json()["items"]
        assert [p["id"] for p in second] == [two[1]["id"]]
        assert api.get("/api/v1/payments").json()["count"] <= 10

    def test_the_status_filter_keeps_only_that_status(self, api: httpx.Client, three: list[dict[str, Any]]) -> None:
        success = api.get("/api/v1/payments", params={"status": "success", "count": 100}).json()["items"]
        assert all(p["status"] == "success" for p in success)
        assert {p["id"] for p in three} <= {p["id"] for p in success}
        pending = api.get("/api/v1/payments", params={"status": "pending", "count": 100}).json()["items"]
        assert not {p["id"] for p in three} & {p["id"] for p in pending}

    def test_from_and_to_filter_by_creation_time_including_both_ends(
        self, api: httpx.Client, three: list[dict[str, Any]]
    ) -> None:
        def ids(**params: int) -> set[str]:
            items = api.get("/api/v1/payments", params={"count": 100, **params}).json()["items"]
            return {p["id"] for p in items}

        first = int(datetime.fromisoformat(three[0]["created_at"]).timestamp())
        last = int(datetime.fromisoformat(three[-1]["created_at"]).timestamp())
        mine = {p["id"] for p in three}
        assert mine <= ids(**{"from": first, "to": last})
        assert not mine & ids(**{"from": last + 3600})
        assert not mine & ids(to=first - 3600)

    def test_another_merchants_payments_are_not_listed(self, other: httpx.Client, three: list[dict[str, Any]]) -> None:
        body = other.get("/api/v1/payments", params={"count": 100}).json()
        assert not {p["id"] for p in three} & {p["id"] for p in body["items"]}


class TestTestEndpoints:
    def test_the_seeded_merchant_is_described(self, anonymous: httpx.Client) -> None:
        r = anonymous.get("/api/v1/test/merchant")
        assert r.status_code == 200
        assert r.json() == {
            "id": TEST_MERCHANT_ID,
            "email": "test@example.com",
            "api_key": "key_test_abc123",
            "seeded": True,
        }

    def test_the_job_figures_are_real(self, api: httpx.Client, anonymous: httpx.Client) -> None:
        before = anonymous.get("/api/v1/test/jobs/status").json()
        assert set(before) == {"pending", "processing", "completed", "failed", "worker_status"}
        assert all(
            isinstance(before[k], int) and before[k] >= 0 for k in ("pending", "processing", "completed", "failed")
        )
        assert before["worker_status"] == "running"
        decided(api, new_payment(api, new_order(api)["id"])["id"])
        poll(
            lambda: anonymous.get("/api/v1/test/jobs/status").json(),
            lambda now: now["completed"] > before["completed"],
            what="the completed count to grow",
        )


class TestAuthentication:
    def test_http_basic_with_key_and_secret_is_accepted(self, anonymous: httpx.Client) -> None:
        auth = ("key_test_abc123", "secret_test_xyz789")
        r = anonymous.post("/api/v1/orders", json={"amount": 500}, auth=auth)
        assert r.status_code == 201
        assert anonymous.get(f"/api/v1/orders/{r.json()['id']}", auth=auth).status_code == 200

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"X-Api-Key": "key_test_abc123"},
            {"X-Api-Secret": "secret_test_xyz789"},
            {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "wrong"},
            {"X-Api-Key": "key_nobody", "X-Api-Secret": "secret_test_xyz789"},
            {"X-Api-Key": "", "X-Api-Secret": ""},
            {"Authorization": "Basic " + base64.b64encode(b"key_test_abc123:wrong").decode()},
            {"Authorization": "Basic " + base64.b64encode(b"key_test_abc123").decode()},
            {"Authorization": "Basic not-base64!"},
            {"Authorization": "Basic " + base64.b64encode(b"key_test\x00abc123:secret_test_xyz789").decode()},
            {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
            {"Authorization": "Bearer key_test_abc123:secret_test_xyz789"},
        ],
        ids=[
            "none",
            "key only",
            "secret only",
            "wrong secret",
            "unknown key",
            "empty",
            "basic wrong password",
            "basic without password",
            "basic garbage",
            "basic with a NUL",
            "basic not utf-8",
            "bearer",
        ],
    )
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/api/v1/orders"),
            ("POST", "/api/v1/orders"),
            ("GET", "/api/v1/orders/order_0000000000000000"),
            ("GET", "/api/v1/orders/order_0000000000000000/payments"),
            ("GET", "/api/v1/payments"),
            ("POST", "/api/v1/payments"),
            ("GET", "/api/v1/payments/pay_0000000000000000"),
        ],
    )
    def test_wrong_or_missing_credentials_are_refused(
        self, anonymous: httpx.Client, headers: dict[str, str], method: str, path: str
    ) -> None:
        r = anonymous.request(method, path, headers=headers, json={"amount": 500} if method == "POST" else None)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)

    def test_credentials_are_checked_before_the_fields_of_the_body(self, anonymous: httpx.Client) -> None:
        r = anonymous.post("/api/v1/orders", json={"amount": "lots", "colour": "red"})
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


class TestIsolation:
    """A merchant never sees another merchant's objects: they answer 404."""

    def test_another_merchants_order_is_not_found(self, api: httpx.Client, other: httpx.Client) -> None:
        theirs = new_order(other)
        assert other.get(f"/api/v1/orders/{theirs['id']}").status_code == 200
        assert_error(api.get(f"/api/v1/orders/{theirs['id']}"), 404, "NOT_FOUND_ERROR", "Order not found")
        r = api.get(f"/api/v1/orders/{theirs['id']}/payments")
        assert_error(r, 404, "NOT_FOUND_ERROR", "Order not found")
        listed = api.get("/api/v1/orders", params={"count": 100}).json()["items"]
        assert theirs["id"] not in {o["id"] for o in listed}

    def test_a_merchant_cannot_pay_another_merchants_order(self, api: httpx.Client, other: httpx.Client) -> None:
        theirs = new_order(other)
        r = api.post("/api/v1/payments", json={"order_id": theirs["id"], **UPI})
        assert_error(r, 404, "NOT_FOUND_ERROR", "Order not found")

    def test_another_merchants_payment_is_not_found(self, api: httpx.Client, other: httpx.Client) -> None:
        theirs = new_payment(other, new_order(other)["id"])
        assert other.get(f"/api/v1/payments/{theirs['id']}").status_code == 200
        assert_error(api.get(f"/api/v1/payments/{theirs['id']}"), 404, "NOT_FOUND_ERROR", "Payment not found")

    def test_a_new_merchants_order_belongs_to_it(self, gateway: Any, other: httpx.Client) -> None:
        theirs = new_order(other)
        assert theirs["merchant_id"] != TEST_MERCHANT_ID
        assert event_types(gateway.env["DATABASE_URL"], f"order-{theirs['id']}") == ["order.created.v1"]
