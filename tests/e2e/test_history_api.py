"""History over HTTP: objects' events, the merchant's feed in commit order, and objects as they stood."""

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from gatekit import CARD, new_order
from payflow import merchant_client, paid_payment, poll, refund_status


@pytest.fixture(scope="module")
def shop(gateway: Any) -> Iterator[httpx.Client]:
    with merchant_client(gateway, "history-shop") as client:
        yield client


@pytest.fixture(scope="module")
def rival(gateway: Any) -> Iterator[httpx.Client]:
    with merchant_client(gateway, "history-rival") as client:
        yield client


def _items(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["entity"] == "collection" and body["count"] == len(body["items"])
    items: list[dict[str, Any]] = body["items"]
    return items


def test_a_payment_lists_its_events_oldest_first_with_their_causes(shop: httpx.Client) -> None:
    paid = paid_payment(shop, 50000)
    rid = shop.post(f"/api/v1/payments/{paid['id']}/refunds", json={"amount": 20000}).json()["id"]
    refund_status(shop, rid, "processed")

    items = _items(shop, f"/api/v1/payments/{paid['id']}/events")
    types = [i["type"] for i in items]
    assert types[0] == "payment.created" and "payment.succeeded" in types
    assert types[-2:] == ["refund.requested", "refund.processed"]
    assert [i["stream_version"] for i in items] == list(range(1, len(items) + 1))
    first = items[0]
    assert set(first) >= {"id", "type", "version", "recorded_at", "data", "caused_by"}
    assert first["version"] == 1 and first["data"]["payment_id"] == paid["id"]
    assert first["caused_by"]["actor"] == "api" and first["caused_by"]["request_id"]
    decided = next(i for i in items if i["type"] == "payment.succeeded")
    assert decided["caused_by"]["actor"] == "worker"

    refund_items = _items(shop, f"/api/v1/refunds/{rid}/events")
    assert [i["type"] for i in refund_items] == ["refund.requested", "refund.processed"]
    assert all(i["data"]["refund_id"] == rid for i in refund_items)


def test_an_order_lists_its_events(shop: httpx.Client) -> None:
    paid = paid_payment(shop, 30000)
    items = _items(shop, f"/api/v1/orders/{paid['order_id']}/events")
    assert [i["type"] for i in items] == ["order.created", "order.paid"]


def test_as_of_answers_each_object_as_it_stood_then(shop: httpx.Client) -> None:
    paid = paid_payment(shop, 40000)
    events = _items(shop, f"/api/v1/payments/{paid['id']}/events")
    created_at = events[0]["recorded_at"]

    then = shop.get(f"/api/v1/payments/{paid['id']}", params={"as_of": created_at})
    assert then.status_code == 200, then.text
    assert then.json()["status"] == "pending" and then.json()["id"] == paid["id"]
    now = shop.get(f"/api/v1/payments/{paid['id']}", params={"as_of": "2999-01-01T00:00:00Z"}).json()
    assert now == shop.get(f"/api/v1/payments/{paid['id']}").json()
    before = shop.get(f"/api/v1/payments/{paid['id']}", params={"as_of": "2000-01-01T00:00:00Z"})
    assert before.status_code == 404

    order_then = shop.get(f"/api/v1/orders/{paid['order_id']}", params={"as_of": created_at}).json()
    assert order_then["status"] == "created"
    assert shop.get(f"/api/v1/orders/{paid['order_id']}").json()["status"] == "paid"

    rid = shop.post(f"/api/v1/payments/{paid['id']}/refunds", json={"amount": 1000}).json()["id"]
    refund_status(shop, rid, "processed")
    requested_at = _items(shop, f"/api/v1/refunds/{rid}/events")[0]["recorded_at"]
    refund_then = shop.get(f"/api/v1/refunds/{rid}", params={"as_of": requested_at}).json()
    assert refund_then["status"] == "pending" and refund_then["processed_at"] is None
    assert shop.get(f"/api/v1/refunds/{rid}", params={"as_of": "2000-01-01T00:00:00Z"}).status_code == 404


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01T00:00:00Z", "1700000000", ""])
def test_a_malformed_as_of_is_a_400(shop: httpx.Client, bad: str) -> None:
    order = new_order(shop)
    answer = shop.get(f"/api/v1/orders/{order['id']}", params={"as_of": bad})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BAD_REQUEST_ERROR"


def test_histories_hold_no_card_number_cvv_or_secret(shop: httpx.Client) -> None:
    order = new_order(shop)
    pay = shop.post("/api/v1/payments", json={"order_id": order["id"], "method": "card", "card": CARD}).json()
    texts = [shop.get(f"/api/v1/payments/{pay['id']}/events").text]
    feed = shop.get("/api/v1/events", params={"limit": 1000})
    texts.append(feed.text)
    for text in texts:
        assert CARD["number"] not in text and '"cvv"' not in text
        assert "_hash" not in text and "_sealed" not in text and "secret_live_" not in text


def test_another_merchant_sees_none_of_it(shop: httpx.Client, rival: httpx.Client) -> None:
    paid = paid_payment(shop, 25000)
    rid = shop.post(f"/api/v1/payments/{paid['id']}/refunds", json={"amount": 500}).json()["id"]
    for path in (
        f"/api/v1/payments/{paid['id']}/events",
        f"/api/v1/orders/{paid['order_id']}/events",
        f"/api/v1/refunds/{rid}/events",
    ):
        assert rival.get(path).status_code == 404, path
    for path in (f"/api/v1/payments/{paid['id']}", f"/api/v1/orders/{paid['order_id']}", f"/api/v1/refunds/{rid}"):
        assert rival.get(path, params={"as_of": "2999-01-01T00:00:00Z"}).status_code == 404, path
    text = rival.get("/api/v1/events", params={"limit": 1000}).text
    assert paid["id"] not in text and paid["order_id"] not in text


def test_a_malformed_cursor_is_a_400(shop: httpx.Client) -> None:
    for bad in ("abc", "1-", "-1", "99999999999999999999-1"):
        answer = shop.get("/api/v1/events", params={"after": bad})
        assert answer.status_code == 400, bad
        assert answer.json()["error"]["code"] == "BAD_REQUEST_ERROR"


def _feed_ids(client: httpx.Client, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
    params: dict[str, Any] = {"limit": limit} | ({"after": cursor} if cursor else {})
    body = client.get("/api/v1/events", params=params).json()
    return [i["id"] for i in body["items"]], body["next"]


def test_the_feed_never_skips_or_repeats_an_event_under_concurrent_appends(gateway: Any) -> None:
    with merchant_client(gateway, "feed-shop") as client:
        seen: list[str] = []
        cursor: str | None = None
        stop = threading.Event()

        def write() -> None:
            with httpx.Client(base_url=gateway.url, headers=dict(client.headers), timeout=10) as own:
                while not stop.is_set():
                    assert own.post("/api/v1/orders", json={"amount": 1000}).status_code == 201

        writers = [threading.Thread(target=write) for _ in range(6)]
        for w in writers:
            w.start()
        try:
            # Read while the writers append, in small pages, until well past a hundred events.
            while len(seen) < 150:
                ids, cursor = _feed_ids(client, cursor, 7)
                seen += ids
        finally:
            stop.set()
            for w in writers:
                w.join()
        merchant_id = client.get("/api/v1/orders", params={"count": 1}).json()["items"][0]["merchant_id"]
        with psycopg.connect(gateway.env["DATABASE_URL"]) as conn:
            want = {
                str(r[0])
                for r in conn.execute(
                    """SELECT e.event_id FROM events e WHERE EXISTS (SELECT FROM events f
                       WHERE f.stream_id = e.stream_id AND f.stream_version = 1 AND f.data->>'merchant_id' = %s)""",
                    (merchant_id,),
                ).fetchall()
            }

        # The rest of the feed arrives once every writer's transaction has ended.
        def drain() -> bool:
            nonlocal cursor
            ids, cursor = _feed_ids(client, cursor, 500)
            seen.extend(ids)
            return set(seen) >= want

        poll(lambda: drain(), lambda done: done, 30, "the feed to catch up")
        assert len(seen) == len(set(seen)), "an event was delivered twice"
        assert set(seen) == want
