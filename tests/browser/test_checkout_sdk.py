"""Issue 8: from the demo shop, through the SDK's modal, to a payment whose signature the shop's server checks."""

import statistics
import sys
from typing import Any

import httpx
import pytest
from checkoutkit import (
    IFRAME,
    open_shop_checkout,
    pay_card,
    pay_upi,
    push_latency_ms,
    screenshot,
    shop_events,
    sign,
    tid,
    wait_shop_event,
)
from stack import Stack

pytestmark = pytest.mark.slow


def test_the_modal_has_exactly_the_documented_dom(page: Any, paying: Stack) -> None:
    open_shop_checkout(page, paying)
    shape = page.evaluate(
        """() => {
          const m = document.getElementById('payment-gateway-modal');
          const o = m.children[0], c = o.children[0];
          return [m.dataset.testId, m.children.length, o.className, o.children.length, c.className,
                  [...c.children].map(e => e.tagName + '.' + e.className + '/' + e.dataset.testId)];
        }"""
    )
    assert shape == [
        "payment-modal",
        1,
        "modal-overlay",
        1,
        "modal-content",
        ["IFRAME./payment-iframe", "BUTTON.close-button/close-modal-button"],
    ]
    src = page.get_attribute(IFRAME, "src")
    assert src.startswith(f"{paying.checkout_url}/checkout?order_id=order_") and src.endswith("&embedded=true")
    assert page.evaluate("getComputedStyle(document.body).overflow") == "hidden"  # the page behind is locked
    screenshot(page, "sdk-modal-1280x800")
    page.set_viewport_size({"width": 360, "height": 740})
    box = page.locator(".modal-content").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 360, "height": 740}  # full screen on a phone
    screenshot(page, "sdk-modal-360x740")


@pytest.mark.parametrize("method", ["upi", "card"])
def test_a_payment_reaches_success_and_the_shop_server_accepts_its_signature(
    page: Any, paying: Stack, method: str
) -> None:
    frame = open_shop_checkout(page, paying)
    pay_upi(frame) if method == "upi" else pay_card(frame)
    success = wait_shop_event(page, "success")["data"]
    verified = wait_shop_event(page, "verified")["data"]
    assert verified == {"verified": True, "order_id": success["orderId"], "payment_id": success["paymentId"]}
    assert success["signature"] == sign(success["orderId"], success["paymentId"])
    page.wait_for_selector("#result.paid")
    assert page.text_content("#result").startswith("Paid")
    assert page.query_selector(tid("payment-modal")) is None  # closed on success
    assert shop_events(page, "close") == []
    assert page.evaluate("document.activeElement.id") == "buy"  # focus is given back
    assert page.evaluate("getComputedStyle(document.body).overflow") != "hidden"
    with httpx.Client(base_url=paying.shop_url) as shop:
        assert shop.get(f"/orders/{success['orderId']}").json()["paid"] is True
    screenshot(page, f"shop-paid-{method}-1280x800")


def test_the_page_learns_the_decision_by_push_and_the_latency_is_printed(page: Any, paying: Stack) -> None:
    latencies = []
    for _ in range(5):
        page.goto(f"{paying.checkout_url}/checkout?order_id={paying.new_order()}")
        pay_upi(page.main_frame)
        page.wait_for_selector(f"{tid('success-state')}:visible")
        payment_id = page.text_content(tid("payment-id"))
        latencies.append(push_latency_ms(page.main_frame, paying, payment_id))
    print(
        f"push latency over {len(latencies)} payments: median {statistics.median(latencies):.0f} ms, "
        f"max {max(latencies):.0f} ms",
        file=sys.stderr,
    )


def test_with_server_push_refused_the_page_falls_back_to_polling(page: Any, paying: Stack) -> None:
    blocked: list[str] = []

    def refuse(route: Any) -> None:
        blocked.append(route.request.url)
        route.abort()

    page.route("**/public/events", refuse)
    page.goto(f"{paying.checkout_url}/checkout?order_id={paying.new_order()}")
    pay_upi(page.main_frame)
    page.wait_for_selector(f"{tid('success-state')}:visible", timeout=15000)
    assert blocked  # the page did try the stream first
    push_latency_ms(page.main_frame, paying, page.text_content(tid("payment-id")))


def test_the_close_button_calls_on_close_and_restores_the_page(page: Any, paying: Stack) -> None:
    open_shop_checkout(page, paying)
    page.click(tid("close-modal-button"))
    wait_shop_event(page, "close")
    assert page.query_selector(tid("payment-modal")) is None
    assert page.evaluate("getComputedStyle(document.body).overflow") != "hidden"
    assert page.evaluate("document.activeElement.id") == "buy"


def test_escape_calls_on_close_from_the_host_page_and_from_inside_the_checkout(page: Any, paying: Stack) -> None:
    open_shop_checkout(page, paying)
    page.focus(tid("close-modal-button"))
    page.keyboard.press("Escape")
    wait_shop_event(page, "close")
    assert page.query_selector(tid("payment-modal")) is None

    frame = open_shop_checkout(page, paying)
    # Pressed inside the iframe: the key goes to the element focused in it. Only down: the checkout closes on
    # keydown, which removes the frame, and Chromium never acknowledges a key up sent to a frame that is gone
    # (``press`` then waits out its whole timeout).
    frame.focus(tid("method-upi"))
    assert frame.evaluate("() => document.hasFocus() && document.activeElement.dataset.testId") == "method-upi"
    page.keyboard.down("Escape")
    wait_shop_event(page, "close")  # a new page load: the shop counts afresh
    assert page.query_selector(tid("payment-modal")) is None


def test_a_forged_post_message_is_ignored(page: Any, paying: Stack) -> None:
    frame = open_shop_checkout(page, paying)
    order_id = frame.text_content(tid("order-id"))
    forged = {"type": "payment_success", "data": {"paymentId": "pay_forgedforgedforg", "orderId": order_id}}
    # From the host page itself (any script on it), to every origin.
    page.evaluate("m => window.postMessage(m, '*')", forged)
    # From another frame on the checkout's own origin: right origin, wrong window.
    page.evaluate(
        """([url]) => new Promise(done => {
             const f = document.createElement('iframe'); f.id = 'intruder'; f.src = url; f.onload = done;
             document.body.append(f);
           })""",
        [f"{paying.checkout_url}/checkout?order_id={order_id}"],
    )
    intruder = page.wait_for_selector("#intruder").content_frame()
    intruder.evaluate(
        "m => { parent.postMessage(m, '*'); parent.postMessage({...m, type: 'close_modal'}, '*'); }", forged
    )
    # Messages to one window are delivered in the order they were posted: once a message posted after the
    # forged ones has arrived, the SDK has seen (and ignored) them.
    page.evaluate("() => new Promise(r => { addEventListener('message', r, {once: true}); postMessage('x', '*'); })")
    assert shop_events(page) == []
    assert page.query_selector(tid("payment-modal")) is not None


def test_a_tampered_signature_is_refused_by_the_shop(page: Any, paying: Stack) -> None:
    frame = open_shop_checkout(page, paying)
    pay_upi(frame)
    success = wait_shop_event(page, "success")["data"]
    wait_shop_event(page, "verified")
    sig = success["signature"]
    tampered = ("0" if sig[0] != "0" else "1") + sig[1:]
    with httpx.Client(base_url=paying.shop_url) as shop:
        order_id = shop.post("/orders").json()["order_id"]  # an order of the shop, not yet paid
        for bad in (
            {"order_id": order_id, "payment_id": success["paymentId"], "signature": sig},  # another order's
            {"order_id": order_id, "payment_id": success["paymentId"], "signature": tampered},
            {"order_id": order_id, "payment_id": success["paymentId"], "signature": sig.upper()},
        ):
            r = shop.post("/verify", json=bad)
            assert r.status_code == 400 and r.json()["verified"] is False, r.text
        assert shop.get(f"/orders/{order_id}").json()["paid"] is False


def test_a_failed_payment_shows_the_error_stays_open_and_can_be_retried(page: Any, failing: Stack) -> None:
    frame = open_shop_checkout(page, failing)
    order_id = frame.text_content(tid("order-id"))
    pay_upi(frame)
    first = wait_shop_event(page, "failure")["data"]
    assert first["orderId"] == order_id and first["error"]["code"] == "PAYMENT_FAILED"
    frame.wait_for_selector(f"{tid('error-state')}:visible")
    assert frame.text_content(tid("error-message")).strip()
    assert page.query_selector(tid("payment-modal")) is not None  # stays open for a retry
    screenshot(page, "sdk-failed-1280x800")
    frame.click(tid("retry-button"))
    frame.wait_for_selector(f"{tid('upi-form')}:visible")
    frame.click(f"{tid('upi-form')} {tid('pay-button')}")
    second = wait_shop_event(page, "failure", 2)["data"]
    assert second["paymentId"] != first["paymentId"]
    assert [p["status"] for p in failing.payments_of(order_id)] == ["failed", "failed"]
    assert shop_events(page, "success") == [] and shop_events(page, "close") == []
