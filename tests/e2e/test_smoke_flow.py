"""A payment travels from order to decision through every real process."""

import time

import httpx


def test_a_card_payment_is_decided_and_pays_its_order(api: httpx.Client) -> None:
    order = api.post("/api/v1/orders", json={"amount": 50000}).json()
    card = {"number": "4111111111111111", "expiry_month": "12", "expiry_year": "2099", "cvv": "123", "holder_name": "A"}
    pay = api.post("/api/v1/payments", json={"order_id": order["id"], "method": "card", "card": card})
    assert pay.status_code == 201, pay.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/payments/{pay.json()['id']}").json()
        if body["status"] != "pending":
            break
        time.sleep(0.1)
    assert body["status"] == "success"
    assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "paid"
