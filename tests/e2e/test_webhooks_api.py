"""Webhooks over HTTP against the running system: configuration, signed deliveries of payment and refund
events, the log, test events and manual retries; each test on merchants of its own."""

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gatekit import UPI, poll
from payflow import merchant_client, order, paid_payment, refund_status
from webhooklab import configure, node_verdicts, receiver, standard_verifies

ALL = ["payment.created", "payment.pending", "payment.success", "payment.failed", "refund.created", "refund.processed"]
LOG_KEYS = {"id", "event", "status", "attempts", "created_at", "last_attempt_at", "next_retry_at", "response_code"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def merchant(gateway: Any) -> Iterator[httpx.Client]:
    with merchant_client(gateway, "webhooks") as client:
        yield client


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path


def secret_of(api: httpx.Client) -> str:
    secret: str = api.get("/api/v1/webhooks/config").json()["secret"]
    return secret


def delivered(api: httpx.Client, webhook_id: str, timeout: float = 30) -> dict[str, Any]:
    body: dict[str, Any] = poll(
        lambda: api.get(f"/api/v1/webhooks/{webhook_id}").json(),
        lambda b: b.get("status") == "success",
        timeout,
        f"delivery of {webhook_id}",
    )
    return body


def of_event(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == event]


class TestConfiguration:
    def test_a_new_merchant_has_no_url_all_events_and_a_secret(self, merchant: httpx.Client) -> None:
        r = merchant.get("/api/v1/webhooks/config")
        assert r.status_code == 200
        body = r.json()
        assert body["url"] is None
        assert body["events"] == ALL
        assert body["secret"].startswith("whsec_")

    def test_the_url_and_events_are_saved_and_read_back(self, merchant: httpx.Client) -> None:
        saved = configure(merchant, "https://merchant.example.com/hooks?x=1", ["payment.success", "refund.processed"])
        assert saved["url"] == "https://merchant.example.com/hooks?x=1"
        assert saved["events"] == ["payment.success", "refund.processed"]
        assert merchant.get("/api/v1/webhooks/config").json() == saved
        # Leaving `events` out keeps them; a null URL turns deliveries off.
        assert configure(merchant, "http://127.0.0.1:9/x")["events"] == ["payment.success", "refund.processed"]
        assert configure(merchant, None)["url"] is None

    @pytest.mark.parametrize(
        "body",
        [
            {"url": "ftp://example.com/hook"},
            {"url": "example.com/hook"},
            {"url": "http://"},
            {"url": "http://exa mple.com/"},
            {"url": "http://example.com:99999/"},
            {"url": "javascript:alert(1)"},
            {"url": 42},
            {"url": ["http://example.com"]},
            {"events": ["payment.success"]},
            {"url": "http://example.com", "events": ["payment.refunded"]},
            {"url": "http://example.com", "events": []},
            {"url": "http://example.com", "events": "payment.success"},
            {"url": "http://example.com", "secret": "whsec_mine"},
            [],
        ],
    )
    def test_a_malformed_configuration_is_a_400(self, merchant: httpx.Client, body: Any) -> None:
        r = merchant.put("/api/v1/webhooks/config", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "BAD_REQUEST_ERROR"
        assert merchant.get("/api/v1/webhooks/config").json()["url"] is None

    def test_a_body_that_is_not_json_is_a_400(self, merchant: httpx.Client) -> None:
        r = merchant.put("/api/v1/webhooks/config", content=b"{url:", headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "BAD_REQUEST_ERROR"

    def test_without_credentials_every_webhook_endpoint_is_a_401(self, gateway: Any) -> None:
        with httpx.Client(base_url=gateway.url, timeout=10) as anon:
            for method, path in [
                ("GET", "/api/v1/webhooks/config"),
                ("PUT", "/api/v1/webhooks/config"),
                ("POST", "/api/v1/webhooks/config/secret"),
                ("POST", "/api/v1/webhooks/test"),
                ("GET", "/api/v1/webhooks"),
            ]:
                r = anon.request(method, path, json={"url": None})
                assert r.status_code == 401, (method, path, r.text)
                assert r.json()["error"]["code"] == "AUTHENTICATION_ERROR"

    def test_regenerating_the_secret_signs_later_deliveries_with_the_new_one_only(
        self, merchant: httpx.Client, logs: Path
    ) -> None:
        old = secret_of(merchant)
        r = merchant.post("/api/v1/webhooks/config/secret")
        assert r.status_code == 200
        new = r.json()["secret"]
        assert re.fullmatch(r"whsec_[A-Za-z0-9]{32}", new) and new != old
        assert secret_of(merchant) == new
        with receiver(new, logs) as rcv:
            configure(merchant, rcv.url)
            test_id = merchant.post("/api/v1/webhooks/test").json()["id"]
            delivered(merchant, test_id)
            [record] = rcv.logs()
        assert record["signature_valid"] and record["standard_signature_valid"]
        assert standard_verifies(new, record) and not standard_verifies(old, record)
        assert node_verdicts(old, [record]) == [{"same_bytes": True, "hex": False, "standard": False}]


class TestDeliveries:
    def test_a_successful_payment_sends_created_pending_and_success_signed_both_ways(
        self, merchant: httpx.Client, logs: Path
    ) -> None:
        secret = secret_of(merchant)
        with receiver(secret, logs) as rcv:
            configure(merchant, rcv.url)
            payment = paid_payment(merchant)
            records = rcv.wait_for(3)
            time.sleep(0.5)
            records = rcv.logs()
        assert sorted(r["event"] for r in records) == ["payment.created", "payment.pending", "payment.success"]
        for record in records:
            body = json.loads(record["body"])
            assert set(body) == {"event", "timestamp", "data"}
            assert body["event"] == record["event"] and isinstance(body["timestamp"], int)
            assert record["headers"]["content-type"] == "application/json"
            assert re.fullmatch(r"[0-9a-f]{64}", record["headers"]["x-webhook-signature"])
            assert record["webhook_id"] and UUID.match(record["webhook_id"])
            assert record["signature_valid"] and record["standard_signature_valid"] and record["canonical"]
            assert standard_verifies(secret, record)
        assert node_verdicts(secret, records) == [{"same_bytes": True, "hex": True, "standard": True}] * 3
        [success] = of_event(records, "payment.success")
        assert (
            json.loads(success["body"])["data"]["payment"] == merchant.get(f"/api/v1/payments/{payment['id']}").json()
        )
        [pending] = of_event(records, "payment.pending")
        assert json.loads(pending["body"])["data"]["payment"]["status"] == "pending"

    def test_a_non_ascii_note_arrives_unescaped_and_verifiable(self, merchant: httpx.Client, logs: Path) -> None:
        note = 'नमस्ते — café ₹500 😀 \u2028 "quoted" \\ \t'
        secret = secret_of(merchant)
        with receiver(secret, logs) as rcv:
            configure(merchant, rcv.url, ["payment.success"])
            o = merchant.post("/api/v1/orders", json={"amount": 50000, "notes": {"note": note, "n": 1.5}}).json()
            assert merchant.post("/api/v1/payments", json={"order_id": o["id"], **UPI}).status_code == 201
            [record] = rcv.wait_for(1)
        raw = record["body"].encode()
        assert "नमस्ते — café ₹500 😀".encode() in raw  # as UTF-8, not \u escapes
        assert json.loads(raw)["data"]["order"]["notes"] == {"note": note, "n": 1.5}
        assert standard_verifies(secret, record)
        assert node_verdicts(secret, [record]) == [{"same_bytes": True, "hex": True, "standard": True}]

    def test_only_subscribed_events_are_sent(self, merchant: httpx.Client, logs: Path) -> None:
        with receiver(secret_of(merchant), logs) as rcv:
            configure(merchant, rcv.url, ["payment.success"])
            paid_payment(merchant)
            rcv.wait_for(1)
            time.sleep(1.5)
            assert [r["event"] for r in rcv.logs()] == ["payment.success"]
        listed = merchant.get("/api/v1/webhooks").json()
        assert [w["event"] for w in listed["data"]] == ["payment.success"]

    def test_a_merchant_without_a_url_gets_no_delivery_and_no_log(self, merchant: httpx.Client, logs: Path) -> None:
        with receiver(secret_of(merchant), logs) as rcv:
            configure(merchant, rcv.url)
            configure(merchant, None)  # configured once, then turned off
            payment = paid_payment(merchant)
            time.sleep(2)
            assert rcv.logs() == []
        assert merchant.get(f"/api/v1/payments/{payment['id']}").json()["status"] == "success"
        assert merchant.get("/api/v1/webhooks").json() == {"data": [], "total": 0, "limit": 10, "offset": 0}

    def test_refunds_send_created_and_processed_with_the_refund_body(self, merchant: httpx.Client, logs: Path) -> None:
        secret = secret_of(merchant)
        with receiver(secret, logs) as rcv:
            configure(merchant, rcv.url, ["refund.created", "refund.processed"])
            payment = paid_payment(merchant)
            r = merchant.post(f"/api/v1/payments/{payment['id']}/refunds", json={"amount": 20000, "reason": "ç"})
            assert r.status_code == 201, r.text
            processed = refund_status(merchant, r.json()["id"], "processed")
            records = rcv.wait_for(2)
        [created] = of_event(records, "refund.created")
        [done] = of_event(records, "refund.processed")
        assert json.loads(created["body"])["data"]["refund"] == {**processed, "status": "pending", "processed_at": None}
        assert json.loads(done["body"])["data"]["refund"] == processed
        assert node_verdicts(secret, [created, done]) == [{"same_bytes": True, "hex": True, "standard": True}] * 2


class TestLogAndRetry:
    def test_a_test_event_is_delivered_and_logged_with_payload_and_response(
        self, merchant: httpx.Client, logs: Path
    ) -> None:
        assert merchant.post("/api/v1/webhooks/test").status_code == 400  # no URL yet
        with receiver(secret_of(merchant), logs) as rcv:
            configure(merchant, rcv.url)
            r = merchant.post("/api/v1/webhooks/test")
            assert r.status_code == 201, r.text
            webhook_id = r.json()["id"]
            assert UUID.match(webhook_id)
            entry = delivered(merchant, webhook_id)
            [record] = rcv.logs()
        assert record["webhook_id"] == webhook_id and record["event"] == "webhook.test"
        assert entry["event"] == "webhook.test" and entry["attempts"] == 1 and entry["response_code"] == 200
        assert entry["payload"] == json.loads(record["body"])
        assert json.loads(entry["response_body"])["status"] == "received"
        assert entry["next_retry_at"] is None and entry["last_attempt_at"] is not None

    def test_the_log_lists_newest_first_with_total_limit_and_offset(self, merchant: httpx.Client, logs: Path) -> None:
        with receiver(secret_of(merchant), logs) as rcv:
            configure(merchant, rcv.url)
            ids = []
            for _ in range(3):
                ids.append(merchant.post("/api/v1/webhooks/test").json()["id"])
                time.sleep(0.01)
            for webhook_id in ids:
                delivered(merchant, webhook_id)
        page = merchant.get("/api/v1/webhooks", params={"limit": 2, "offset": 0}).json()
        assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
        assert [w["id"] for w in page["data"]] == ids[::-1][:2]
        assert set(page["data"][0]) == LOG_KEYS
        rest = merchant.get("/api/v1/webhooks", params={"limit": 2, "offset": 2}).json()
        assert [w["id"] for w in rest["data"]] == [ids[0]]
        for params in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}):
            bad = merchant.get("/api/v1/webhooks", params=params)
            assert bad.status_code == 400, params
            assert bad.json()["error"]["code"] == "BAD_REQUEST_ERROR"

    def test_another_merchants_or_an_unknown_log_entry_is_not_found(
        self, merchant: httpx.Client, api: httpx.Client, logs: Path
    ) -> None:
        with receiver(secret_of(merchant), logs) as rcv:
            configure(merchant, rcv.url)
            webhook_id = merchant.post("/api/v1/webhooks/test").json()["id"]
            delivered(merchant, webhook_id)
        for path in (f"/api/v1/webhooks/{webhook_id}", "/api/v1/webhooks/not-a-uuid"):
            r = api.get(path)
            assert r.status_code == 404
            assert r.json()["error"] == {"code": "NOT_FOUND_ERROR", "description": "Webhook not found"}
        assert api.post(f"/api/v1/webhooks/{webhook_id}/retry").status_code == 404

    def test_a_manual_retry_resets_attempts_and_delivers_again_with_the_same_id_and_bytes(
        self, merchant: httpx.Client, logs: Path
    ) -> None:
        with receiver(secret_of(merchant), logs) as rcv:
            configure(merchant, rcv.url)
            webhook_id = merchant.post("/api/v1/webhooks/test").json()["id"]
            delivered(merchant, webhook_id)
            r = merchant.post(f"/api/v1/webhooks/{webhook_id}/retry")
            assert r.status_code == 200
            assert r.json() == {"id": webhook_id, "status": "pending", "message": "Webhook retry scheduled"}
            first, second = rcv.wait_for(2)
            entry = delivered(merchant, webhook_id)
        assert entry["attempts"] == 1
        assert first["webhook_id"] == second["webhook_id"] == webhook_id
        assert first["body"] == second["body"]


def test_a_delivery_id_comes_from_its_event_so_every_webhook_of_a_payment_differs(
    merchant: httpx.Client, logs: Path
) -> None:
    with receiver(secret_of(merchant), logs) as rcv:
        configure(merchant, rcv.url)
        o = order(merchant)
        merchant.post("/api/v1/payments", json={"order_id": o["id"], **UPI})
        records = rcv.wait_for(3)
    assert len({r["webhook_id"] for r in records}) == 3
