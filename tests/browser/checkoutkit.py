"""What the browser tests do again and again: open the demo shop's checkout, pay, read the shop's callbacks."""

import hashlib
import hmac
import sys
from typing import Any

from stack import ARTIFACTS, Stack

SECRET = "secret_test_xyz789"
CARD = {"number": "4111 1111 1111 1111", "expiry": "12/34", "cvv": "123", "holder": "Asha Rao"}
IFRAME = '[data-test-id="payment-iframe"]'


def tid(name: str) -> str:
    return f'[data-test-id="{name}"]'


def sign(order_id: str, payment_id: str) -> str:
    return hmac.new(SECRET.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


def open_shop_checkout(page: Any, stack: Stack) -> Any:
    """The demo shop with its checkout modal open; the checkout page's frame, once it shows the order."""
    page.goto(stack.shop_url)
    page.click("#buy")
    page.wait_for_selector(tid("payment-modal"))
    frame = page.wait_for_selector(IFRAME).content_frame()
    frame.wait_for_selector(f"{tid('method-upi')}:visible")
    return frame


def pay_upi(frame: Any, vpa: str = "payer@okbank") -> None:
    frame.click(tid("method-upi"))
    frame.fill(tid("vpa-input"), vpa)
    frame.click(f"{tid('upi-form')} {tid('pay-button')}")


def pay_card(frame: Any, card: dict[str, str] = CARD) -> None:
    frame.click(tid("method-card"))
    frame.fill(tid("card-number-input"), card["number"])
    frame.fill(tid("expiry-input"), card["expiry"])
    frame.fill(tid("cvv-input"), card["cvv"])
    frame.fill(tid("cardholder-name-input"), card["holder"])
    frame.click(f"{tid('card-form')} {tid('pay-button')}")


def shop_events(page: Any, kind: str | None = None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = page.evaluate("window.demoShop ? window.demoShop.events : []")
    return [e for e in events if kind is None or e["type"] == kind]


def wait_shop_event(page: Any, kind: str, count: int = 1) -> dict[str, Any]:
    page.wait_for_function(
        "([kind, count]) => window.demoShop.events.filter(e => e.type === kind).length >= count", arg=[kind, count]
    )
    return shop_events(page, kind)[count - 1]


def push_latency_ms(frame: Any, stack: Stack, payment_id: str) -> float:
    """How long after the decision the page showed it (ms); printed, never asserted."""
    settled = frame.evaluate("window.__settledAt")
    latency = float(settled) - stack.decided_at_ms(payment_id)
    print(f"push latency (decision -> page shows it) for {payment_id}: {latency:.0f} ms", file=sys.stderr)
    return latency


def screenshot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
