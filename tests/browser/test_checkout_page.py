"""Issue 8: the checkout page on its own: messages for unknown and paid orders, client-side checks that send
nothing, one payment per attempt, 360 px phones, keyboard use, axe-core, the server's headers and the bundle
budgets."""

import gzip
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from checkoutkit import CARD, pay_upi, screenshot, tid
from gatekit import poll
from harness import scaled
from stack import ROOT, Stack

pytestmark = pytest.mark.slow

CREATE = "/api/v1/payments/public"


def checkout(page: Any, stack: Stack, order_id: str | None = None) -> str:
    order_id = order_id or stack.new_order()
    page.goto(f"{stack.checkout_url}/checkout?order_id={order_id}")
    page.wait_for_selector(f"{tid('method-upi')}:visible")
    return order_id


def posts(page: Any) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and CREATE in r.url else None)
    return sent


def serious(page: Any) -> list[str]:
    found = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']}" for v in found if v["impact"] in ("serious", "critical")]


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_an_unknown_order_says_so(page: Any, paying: Stack) -> None:
    page.goto(f"{paying.checkout_url}/checkout?order_id=order_NoSuchOrder00000")
    page.wait_for_selector("#notice:visible")
    assert "could not find this order" in page.text_content("#notice")
    assert page.is_hidden(tid("payment-methods"))
    assert serious(page) == []
    page.goto(f"{paying.checkout_url}/checkout")
    page.wait_for_selector("#notice:visible")
    assert "no order" in page.text_content("#notice")


def test_a_paid_order_says_it_is_paid(page: Any, paying: Stack) -> None:
    order_id = checkout(page, paying)
    pay_upi(page.main_frame)
    page.wait_for_selector(f"{tid('success-state')}:visible")
    page.reload()
    page.wait_for_selector("#notice:visible")
    assert "already been paid" in page.text_content("#notice")
    assert page.text_content(tid("order-amount")) == "₹500.00"
    assert page.text_content(tid("order-id")) == order_id
    assert page.is_hidden(tid("upi-form")) and page.is_hidden(tid("card-form"))


def test_forms_stay_hidden_until_a_method_is_chosen(page: Any, paying: Stack) -> None:
    checkout(page, paying)
    assert page.text_content(tid("order-amount")) == "₹500.00"
    assert page.is_hidden(tid("upi-form")) and page.is_hidden(tid("card-form"))
    page.click(tid("method-card"))
    assert page.is_visible(tid("card-form")) and page.is_hidden(tid("upi-form"))
    assert page.evaluate("document.activeElement.dataset.testId") == "card-number-input"
    page.click(tid("method-upi"))
    assert page.is_visible(tid("upi-form")) and page.is_hidden(tid("card-form"))


def test_a_bad_vpa_is_refused_beside_the_field_and_nothing_is_sent(page: Any, paying: Stack) -> None:
    sent = posts(page)
    checkout(page, paying)
    page.click(tid("method-upi"))
    for bad in ("", "no-at-sign", "a@b.c", "name @bank"):
        page.fill(tid("vpa-input"), bad)
        page.click(f"{tid('upi-form')} {tid('pay-button')}")
        assert page.is_visible("#vpa-error"), bad
        assert "UPI ID" in page.text_content("#vpa-error")
        assert page.get_attribute(tid("vpa-input"), "aria-invalid") == "true"
    assert sent == []


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("card-number-input", "4111 1111 1111 1112", "#card-number-error", "not valid"),
        ("card-number-input", "4111", "#card-number-error", "13 to 19"),
        ("expiry-input", "01/20", "#expiry-error", "expired"),
        ("expiry-input", "13/40", "#expiry-error", "01 to 12"),
        ("expiry-input", "1240", "#expiry-error", "MM/YY"),
        ("cvv-input", "12", "#cvv-error", "3 digits"),
        ("cvv-input", "", "#cvv-error", "3-digit security code"),
        ("cardholder-name-input", "  ", "#holder-error", "name on the card"),
    ],
)
def test_a_bad_card_field_is_refused_beside_it_and_nothing_is_sent(
    page: Any, paying: Stack, field: str, value: str, error: str, message: str
) -> None:
    sent = posts(page)
    checkout(page, paying)
    page.click(tid("method-card"))
    good = {
        "card-number-input": CARD["number"],
        "expiry-input": CARD["expiry"],
        "cvv-input": CARD["cvv"],
        "cardholder-name-input": CARD["holder"],
    }
    for name, v in (good | {field: value}).items():
        page.fill(tid(name), v)
    page.click(f"{tid('card-form')} {tid('pay-button')}")
    assert message in page.text_content(error)
    assert page.evaluate("document.activeElement.dataset.testId") == field
    assert sent == []


def test_the_card_network_badge_follows_the_number_and_sets_the_cvv_length(page: Any, paying: Stack) -> None:
    checkout(page, paying)
    page.click(tid("method-card"))
    for number, badge in (
        ("4111", "Visa"),
        ("5555 5555", "Mastercard"),
        ("3782", "American Express"),
        ("6522", "RuPay"),
        ("9999", ""),
    ):
        page.fill(tid("card-number-input"), number)
        assert page.text_content("#card-network") == badge
    page.fill(tid("card-number-input"), "3782 822463 10005")  # an amex test number: a 4-digit CVV
    page.fill(tid("expiry-input"), CARD["expiry"])
    page.fill(tid("cvv-input"), "123")
    page.fill(tid("cardholder-name-input"), CARD["holder"])
    page.click(f"{tid('card-form')} {tid('pay-button')}")
    assert "4 digits" in page.text_content("#cvv-error")
    page.fill(tid("cvv-input"), "1234")
    page.click(f"{tid('card-form')} {tid('pay-button')}")
    page.wait_for_selector(f"{tid('success-state')}:visible")


def test_a_double_click_on_pay_creates_one_payment(page: Any, paying: Stack) -> None:
    sent = posts(page)
    order_id = checkout(page, paying)
    page.click(tid("method-upi"))
    page.fill(tid("vpa-input"), "payer@okbank")
    page.dblclick(f"{tid('upi-form')} {tid('pay-button')}")
    page.wait_for_selector(f"{tid('success-state')}:visible")
    assert len(sent) >= 1
    payments = paying.payments_of(order_id)
    assert [p["id"] for p in payments] == [page.text_content(tid("payment-id"))]


def test_a_repeated_request_with_the_pages_key_returns_the_same_payment(page: Any, paying: Stack) -> None:
    keys: list[str] = []
    page.on("request", lambda r: keys.append(r.headers.get("idempotency-key", "")) if CREATE in r.url else None)
    order_id = checkout(page, paying)
    pay_upi(page.main_frame)
    page.wait_for_selector(f"{tid('success-state')}:visible")
    assert len(keys) == 1 and len(keys[0]) >= 16
    body = {"order_id": order_id, "method": "upi", "vpa": "payer@okbank"}
    again = httpx.post(f"{paying.checkout_url}{CREATE}", json=body, headers={"Idempotency-Key": keys[0]})
    assert again.json()["id"] == page.text_content(tid("payment-id"))
    assert len(paying.payments_of(order_id)) == 1


def test_a_phone_sized_screen_never_scrolls_sideways_and_axe_finds_nothing_serious(page: Any, paying: Stack) -> None:
    for width, height in ((360, 740), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        checkout(page, paying)
        assert no_horizontal_scroll(page)
        assert serious(page) == []
        page.click(tid("method-card"))
        page.fill(tid("card-number-input"), "4111 1111 1111 1112")
        page.fill(tid("expiry-input"), "01/20")
        page.click(f"{tid('card-form')} {tid('pay-button')}")
        assert no_horizontal_scroll(page)
        assert serious(page) == []
        screenshot(page, f"page-card-errors-{width}x{height}")
        page.click(tid("method-upi"))
        page.fill(tid("vpa-input"), "payer@okbank")
        page.click(f"{tid('upi-form')} {tid('pay-button')}")
        page.wait_for_selector(f"{tid('processing-state')}:visible")
        screenshot(page, f"page-processing-{width}x{height}")
        page.wait_for_selector(f"{tid('success-state')}:visible")
        assert no_horizontal_scroll(page)
        assert serious(page) == []
        screenshot(page, f"page-success-{width}x{height}")


def test_the_error_state_passes_axe_at_both_sizes(page: Any, failing: Stack) -> None:
    for width, height in ((360, 740), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        checkout(page, failing)
        pay_upi(page.main_frame)
        page.wait_for_selector(f"{tid('error-state')}:visible")
        assert page.text_content(tid("error-message")).strip()
        assert no_horizontal_scroll(page)
        assert serious(page) == []
        screenshot(page, f"page-error-{width}x{height}")
        page.click(tid("retry-button"))
        page.wait_for_selector(f"{tid('upi-form')}:visible")


def test_the_page_can_be_paid_by_keyboard_alone_with_visible_focus(page: Any, paying: Stack) -> None:
    checkout(page, paying)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testId") == "method-upi"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testId") == "method-card"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.dataset.testId") == "vpa-input"
    page.keyboard.type("payer@okbank")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testId") == "pay-button"
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{tid('success-state')}:visible")


def test_the_checkout_server_sends_its_policy_and_cache_headers(paying: Stack) -> None:
    page = httpx.get(f"{paying.checkout_url}/checkout?order_id={paying.new_order()}")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "frame-ancestors" not in policy  # no origins listed: any shop may embed it
    assert page.headers["cache-control"] == "no-store"
    sdk = httpx.get(f"{paying.checkout_url}/checkout.js")
    assert sdk.status_code == 200 and sdk.headers["content-type"].startswith("text/javascript")
    assert "max-age" in sdk.headers["cache-control"]
    asset = next(p for p in page.text.split('"') if p.startswith("/assets/") and p.endswith(".js"))
    assert "immutable" in httpx.get(f"{paying.checkout_url}{asset}").headers["cache-control"]
    # Only the public endpoints are passed on to the API.
    assert httpx.get(f"{paying.checkout_url}/api/v1/orders").status_code == 404
    assert httpx.get(f"{paying.checkout_url}/api/v1/payments/pay_x/public").status_code == 404


def test_listed_origins_become_frame_ancestors_and_other_sites_cannot_frame_it(browser: Any, paying: Stack) -> None:
    with paying.api() as api:
        try:
            bad = api.put("/api/v1/checkout/config", json={"allowed_origins": ["https://shop.example/path"]})
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "BAD_REQUEST_ERROR"
            assert "is not an origin" in bad.json()["error"]["description"]
            assert api.put("/api/v1/checkout/config", json={"allowed_origins": "x"}).status_code == 400
            assert httpx.get(f"{paying.gateway.url}/api/v1/checkout/config").status_code == 401
            assert api.put("/api/v1/checkout/config", json={"allowed_origins": [paying.shop_url]}).status_code == 200
            assert api.get("/api/v1/checkout/config").json() == {"allowed_origins": [paying.shop_url]}
            order_id = paying.new_order()
            policy = httpx.get(f"{paying.checkout_url}/checkout?order_id={order_id}").headers["content-security-policy"]
            assert f"frame-ancestors 'self' {paying.shop_url}" in policy
            ctx = browser.new_context()
            try:
                page = ctx.new_page()
                page.goto(paying.shop_url)
                page.click("#buy")
                frame = page.wait_for_selector(tid("payment-iframe")).content_frame()
                frame.wait_for_selector(f"{tid('method-upi')}:visible")  # the listed shop may embed it

                r = api.put("/api/v1/checkout/config", json={"allowed_origins": ["https://elsewhere.example"]})
                assert r.json() == {"allowed_origins": ["https://elsewhere.example"]}
                said: list[str] = []
                page.on("console", lambda message: said.append(message.text))
                page.goto(paying.shop_url)
                page.click("#buy")
                page.wait_for_selector(tid("payment-iframe"))

                def refusal() -> str:
                    """Chromium's own error document in the frame, or its console line saying it refused: the
                    frame may be swapped for a new one when the refused page would have run in another process."""
                    element = page.query_selector(tid("payment-iframe"))
                    frame = element.content_frame() if element else None
                    url = frame.url if frame else ""
                    if url.startswith("chrome-error://"):
                        return url
                    return " ".join(line for line in said if "frame-ancestors" in line)

                poll(refusal, bool, scaled(30), "the frame refused")
                blocked = page.query_selector(tid("payment-iframe")).content_frame()
                assert blocked is None or blocked.query_selector(tid("checkout-container")) is None
            finally:
                ctx.close()
        finally:
            api.put("/api/v1/checkout/config", json={"allowed_origins": []})


def test_the_sdk_refuses_missing_options_naming_them(page: Any, paying: Stack) -> None:
    page.goto(paying.shop_url)
    errors = page.evaluate(
        """() => [{orderId: 'order_x'}, {key: 'k'}, {key: 'k', orderId: ''}, undefined].map(o => {
             try { new PaymentGateway(o); return null; } catch (e) { return e.message; }
           })"""
    )
    assert 'the "key" option is required' in errors[0]
    assert 'the "orderId" option is required' in errors[1]
    assert "orderId" in errors[2]
    assert "options are required" in errors[3]
    assert page.evaluate("Object.keys(window).filter(k => k.startsWith('Payment'))") == ["PaymentGateway"]


def test_the_bundles_stay_within_their_budgets(checkout_dist: Path) -> None:
    page_js = sum(len(gzip.compress(p.read_bytes(), 9)) for p in (checkout_dist / "assets").glob("*.js"))
    sdk_js = len(gzip.compress((checkout_dist / "checkout.js").read_bytes(), 9))
    print(f"\ncheckout page JS {page_js} B gzipped, checkout.js {sdk_js} B gzipped", file=sys.stderr)
    assert page_js <= 30 * 1024
    assert sdk_js <= 5 * 1024
    assert (ROOT / "checkout_ui" / "package-lock.json").is_file()
