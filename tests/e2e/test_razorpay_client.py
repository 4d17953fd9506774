"""The official Razorpay Python client (2.0.1), unchanged, against a running gateway: every call of the README's
table works, and errors reach merchants as the client's own exception classes.

The client maps only ``BAD_REQUEST_ERROR`` to ``BadRequestError``; every other error code (authentication, not
found, conflict, INVALID_CARD and the like) becomes its ``ServerError``, with our description as the message.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import razorpay
from gatekit import CARD, UPI, decided, poll, start_gateway
from razorpay.errors import BadRequestError, ServerError, SignatureVerificationError
from webhooklab import configure, receiver

TEST_KEY, TEST_SECRET = "key_test_abc123", "secret_test_xyz789"
AUTH = {"X-Api-Key": TEST_KEY, "X-Api-Secret": TEST_SECRET}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any, private_redis: Any) -> Iterator[Any]:
    """A gateway of this module's own: it subscribes the test merchant to webhooks, which others must not see."""
    g = start_gateway(tmp_path_factory.mktemp("razorpay"), fresh_database(), private_redis())
    yield g
    g.close()


@pytest.fixture(scope="module")
def client(gw: Any) -> razorpay.Client:
    return razorpay.Client(auth=(TEST_KEY, TEST_SECRET), base_url=f"{gw.url}/api")


@pytest.fixture(scope="module")
def api(gw: Any) -> Iterator[httpx.Client]:
    """Plain HTTP for what the client cannot do: a merchant creates payments through its checkout."""
    with httpx.Client(base_url=gw.url, headers=AUTH, timeout=10) as c:
        yield c


def paid(client: razorpay.Client, api: httpx.Client, amount: int = 50000) -> dict[str, Any]:
    """A successful UPI payment of a new order made with the client."""
    order = client.order.create({"amount": amount, "currency": "INR", "receipt": "rcpt-1"})
    r = api.post("/api/v1/payments", json={"order_id": order["id"], **UPI})
    assert r.status_code == 201, r.text
    payment = decided(api, r.json()["id"])
    assert payment["status"] == "success", payment
    return payment


def test_order_create_fetch_all_and_payments(client: razorpay.Client, api: httpx.Client) -> None:
    order = client.order.create(
        {"amount": 50000, "currency": "INR", "receipt": "rcpt-7", "notes": {"k": "v"}, "partial_payment": False}
    )
    assert (order["amount"], order["currency"], order["receipt"], order["notes"]) == (
        50000,
        "INR",
        "rcpt-7",
        {"k": "v"},
    )
    assert client.order.fetch(order["id"])["id"] == order["id"]
    assert order["id"] in [o["id"] for o in client.order.all({"count": 100})["items"]]
    r = api.post("/api/v1/payments", json={"order_id": order["id"], "method": "card", "card": CARD})
    assert r.status_code == 201, r.text
    assert [p["id"] for p in client.order.payments(order["id"])["items"]] == [r.json()["id"]]


def test_partial_payment_true_is_refused_naming_the_field(client: razorpay.Client) -> None:
    with pytest.raises(BadRequestError, match="partial_payment"):
        client.order.create({"amount": 50000, "currency": "INR", "partial_payment": True})


def test_payment_fetch_all_and_capture(client: razorpay.Client, api: httpx.Client) -> None:
    payment = paid(client, api)
    assert client.payment.fetch(payment["id"])["status"] == "success"
    assert payment["id"] in [p["id"] for p in client.payment.all({"count": 100})["items"]]
    captured = client.payment.capture(payment["id"], payment["amount"])
    assert captured["captured"] is True


def test_payment_refund_with_speed_and_notes_and_every_way_to_read_it(
    client: razorpay.Client, api: httpx.Client
) -> None:
    payment = paid(client, api)
    first = client.payment.refund(payment["id"], {"amount": 10000, "speed": "optimum", "notes": {"ticket": "T-9"}})
    assert (first["amount"], first["notes"], first["speed_processed"]) == (10000, {"ticket": "T-9"}, "normal")
    second = client.refund.create({"payment_id": payment["id"], "amount": 15000})
    assert (second["payment_id"], second["amount"]) == (payment["id"], 15000)
    # Both ways read the same refund; polled, since the refund may be processed between the two reads.
    both = lambda: (client.payment.fetch_refund_id(payment["id"], first["id"]), client.refund.fetch(first["id"]))  # noqa: E731
    poll(both, lambda pair: pair[0] == pair[1], 30, "the same refund read both ways")
    assert client.refund.fetch(first["id"])["notes"] == {"ticket": "T-9"}
    listed = client.payment.fetch_multiple_refund(payment["id"])["items"]
    assert {r["id"] for r in listed} == {first["id"], second["id"]}
    assert {first["id"], second["id"]} <= {r["id"] for r in client.refund.all({"count": 100})["items"]}
    # With no amount, what is left is refunded: 50000 - 10000 - 15000.
    rest = client.refund.create({"payment_id": payment["id"]})
    assert rest["amount"] == 25000
    with pytest.raises(BadRequestError, match="fully refunded"):
        client.payment.refund(payment["id"], {})


def test_a_refund_is_read_only_through_its_own_payment(client: razorpay.Client, api: httpx.Client) -> None:
    one, other = paid(client, api), paid(client, api)
    refund = client.refund.create({"payment_id": one["id"], "amount": 100})
    with pytest.raises(ServerError, match="Refund not found"):
        client.payment.fetch_refund_id(other["id"], refund["id"])


def test_errors_reach_merchants_as_the_clients_exception_classes(gw: Any, client: razorpay.Client) -> None:
    with pytest.raises(BadRequestError, match="amount must be at least 100"):
        client.order.create({"amount": 50, "currency": "INR"})
    with pytest.raises(BadRequestError, match="ISO 4217"):
        client.order.create({"amount": 500, "currency": "XYZ"})
    with pytest.raises(BadRequestError, match="not an accepted field"):
        client.order.create({"amount": 500, "currency": "INR", "first_payment_min_amount": 100})
    with pytest.raises(ServerError, match="Order not found"):
        client.order.fetch("order_doesnotexist")
    with pytest.raises(ServerError, match="Payment not found"):
        client.payment.capture("pay_doesnotexist", 500)
    stranger = razorpay.Client(auth=(TEST_KEY, "wrong"), base_url=f"{gw.url}/api")
    with pytest.raises(ServerError, match="Invalid API credentials"):
        stranger.order.all()


def test_webhooks_verify_with_the_client_including_payment_captured_and_order_paid(
    gw: Any, client: razorpay.Client, api: httpx.Client, tmp_path: Path
) -> None:
    secret = api.get("/api/v1/webhooks/config").json()["secret"]
    events = ["payment.success", "payment.captured", "order.paid"]
    with receiver(secret, tmp_path) as rx:
        configure(api, rx.url, events)
        payment = paid(client, api)
        client.payment.capture(payment["id"], payment["amount"])
        records = poll(
            rx.logs,
            lambda rs: {r["event"] for r in rs if r.get("event")} >= set(events),
            60,
            "payment.success, payment.captured and order.paid",
        )
        configure(api, None)
    for record in records:
        body, signature = record["body"], record["headers"]["x-webhook-signature"]
        assert client.utility.verify_webhook_signature(body, signature, secret) is True
        with pytest.raises(SignatureVerificationError):
            client.utility.verify_webhook_signature(body + " ", signature, secret)
    by_event = {r["event"]: httpx.Response(200, content=r["body"]).json() for r in records}
    assert by_event["payment.captured"]["data"]["payment"]["captured"] is True
    assert by_event["payment.captured"]["data"]["payment"]["id"] == payment["id"]
    assert by_event["order.paid"]["data"]["order"]["status"] == "paid"
    assert by_event["order.paid"]["data"]["payment"]["id"] == payment["id"]


def test_the_checkout_signature_verifies_with_the_client(gw: Any, client: razorpay.Client, api: httpx.Client) -> None:
    """The checkout's success signature, read from the public payment exactly as a checkout page gets it."""
    payment = paid(client, api)
    public = httpx.get(f"{gw.url}/api/v1/payments/{payment['id']}/public", timeout=10).json()
    assert "signature" in public, f"GET /payments/{{id}}/public returns no signature: {public}"
    params = {
        "razorpay_order_id": payment["order_id"],
        "razorpay_payment_id": payment["id"],
        "razorpay_signature": public["signature"],
    }
    assert client.utility.verify_payment_signature(params) is True
    with pytest.raises(SignatureVerificationError):
        client.utility.verify_payment_signature({**params, "razorpay_payment_id": "pay_other"})
