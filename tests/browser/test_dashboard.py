"""The merchant dashboard in headless Chromium: every page and flow, by the contract's test ids."""

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from dashkit import (
    PASSWORD,
    ROOT,
    VIEWPORTS,
    Dashboard,
    Shop,
    browser,
    context,
    dashboard,
    paid,
    serious_violations,
    shot,
    sign_in,
)
from gatekit import free_port, poll
from playwright.sync_api import Browser, expect

__all__ = ["browser", "dashboard"]  # fixtures, used by name

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(dashboard: Dashboard) -> Iterator[Shop]:
    """A merchant with known figures: two successful ₹2,50,000 payments (one by card) and a ₹1,234.56 one."""
    with dashboard.shop("Dash Shop") as made:
        yield made


@pytest.fixture(scope="module")
def figures(shop: Shop) -> list[dict[str, Any]]:
    return [paid(shop, 25_000_000), paid(shop, 25_000_000, "card"), paid(shop, 123_456)]


def test_dashboard_pages_without_a_session_go_to_login(dashboard: Dashboard, browser: Browser) -> None:
    with context(browser) as ctx:
        page = ctx.new_page()
        for path in ("/dashboard", "/dashboard/transactions", "/dashboard/webhooks", "/dashboard/docs"):
            page.goto(dashboard.url + path)
            expect(page).to_have_url(re.compile(r"/login$"))
        expect(page.get_by_test_id("login-form")).to_be_visible()
        for viewport in VIEWPORTS:
            page.set_viewport_size(VIEWPORTS[viewport])  # type: ignore[arg-type]
            shot(page, "login")
        assert serious_violations(page) == []


def test_a_wrong_password_is_refused(dashboard: Dashboard, browser: Browser, shop: Shop) -> None:
    with context(browser) as ctx:
        page = ctx.new_page()
        page.goto(dashboard.url + "/login")
        page.get_by_test_id("email-input").fill(shop.email)
        page.get_by_test_id("password-input").fill("not the password")
        page.get_by_test_id("login-button").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
        expect(page).to_have_url(re.compile(r"/login$"))
        assert not [c for c in ctx.cookies() if c["name"] == "paygate_session"]


def test_home_shows_credentials_figures_chart_and_balance(
    dashboard: Dashboard, browser: Browser, shop: Shop, figures: list[dict[str, Any]]
) -> None:
    for viewport in VIEWPORTS:
        with context(browser, viewport) as ctx:
            page = ctx.new_page()
            sign_in(page, dashboard.url, shop.email)
            expect(page.get_by_test_id("api-credentials")).to_be_visible()
            expect(page.get_by_test_id("api-key")).to_have_text(shop.api_key)
            expect(page.get_by_test_id("api-secret")).not_to_contain_text("secret")  # masked: shown only once
            stats = page.get_by_test_id("stats-container")
            # The async projections catch up within moments: expect() polls until they have.
            expect(stats.get_by_test_id("total-transactions")).to_have_text("3")
            expect(stats.get_by_test_id("total-amount")).to_have_text("₹5,01,234.56")
            expect(stats.get_by_test_id("success-rate")).to_have_text("100%")
            expect(page.get_by_test_id("balance-available")).to_have_text("₹5,01,234.56")
            expect(page.locator(".recharts-bar-rectangle path")).to_have_count(1)  # one day with volume
            shot(page, "home")
            assert serious_violations(page) == []


def test_the_session_cookie_is_httponly_and_samesite_and_no_secret_is_stored(
    dashboard: Dashboard, browser: Browser, shop: Shop
) -> None:
    with context(browser) as ctx:
        page = ctx.new_page()
        sign_in(page, dashboard.url, shop.email)
        cookie = next(c for c in ctx.cookies() if c["name"] == "paygate_session")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""
        stored = page.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
        assert stored == "{}{}"


def test_the_test_merchant_signs_in_with_any_password_and_may_reveal_its_published_secret(
    dashboard: Dashboard, browser: Browser
) -> None:
    with context(browser) as ctx:
        page = ctx.new_page()
        sign_in(page, dashboard.url, "test@example.com", "any password at all")
        expect(page.get_by_test_id("api-key")).to_have_text("key_test_abc123")
        page.get_by_test_id("reveal-secret-button").click()
        expect(page.get_by_test_id("api-secret")).to_have_text("secret_test_xyz789")


def test_rotating_the_key_shows_the_new_secret_once(dashboard: Dashboard, browser: Browser) -> None:
    with dashboard.shop("Rotating Shop") as shop:
        with context(browser) as ctx:
            page = ctx.new_page()
            sign_in(page, dashboard.url, shop.email)
            page.get_by_test_id("rotate-key-button").click()
            page.get_by_test_id("confirm-rotate-button").click()
            expect(page.get_by_test_id("api-secret")).to_have_text(re.compile(r"^secret_live_\w+$"))
            expect(page.get_by_test_id("secret-once-notice")).to_be_visible()
            new_key = page.get_by_test_id("api-key").inner_text()
            new_secret = page.get_by_test_id("api-secret").inner_text()
            assert new_key != shop.api_key and new_key.startswith("key_live_")
            answer = httpx.get(f"{dashboard.gateway.url}/api/v1/orders", auth=(new_key, new_secret))
            assert answer.status_code == 200
            page.reload()
            expect(page.get_by_test_id("api-key")).to_have_text(new_key)
            expect(page.get_by_test_id("api-secret")).not_to_contain_text("secret")


def test_transactions_filter_search_page_and_update_live(
    dashboard: Dashboard, browser: Browser, shop: Shop, figures: list[dict[str, Any]]
) -> None:
    with context(browser) as ctx:
        page = ctx.new_page()
        sign_in(page, dashboard.url, shop.email)
        page.goto(dashboard.url + "/dashboard/transactions")
        table = page.get_by_test_id("transactions-table")
        rows = table.get_by_test_id("transaction-row")
        expect(rows).to_have_count(3)
        newest = figures[-1]
        first = rows.first
        assert first.get_attribute("data-payment-id") == newest["id"]  # newest first
        expect(first.get_by_test_id("payment-id")).to_have_text(newest["id"])
        expect(first.get_by_test_id("order-id")).to_have_text(newest["order_id"])
        expect(first.get_by_test_id("amount")).to_have_text("₹1,234.56")
        expect(first.get_by_test_id("method")).to_have_text("upi")
        expect(first.get_by_test_id("status")).to_have_text("success")
        expect(first.get_by_test_id("created-at")).not_to_be_empty()

        page.get_by_test_id("filter-method").select_option("card")
        expect(rows).to_have_count(1)
        assert rows.first.get_attribute("data-payment-id") == figures[1]["id"]
        page.get_by_test_id("filter-method").select_option("")
        page.get_by_test_id("filter-status").select_option("failed")
        expect(page.get_by_text("No payments match.")).to_be_visible()
        page.get_by_test_id("filter-status").select_option("")
        page.get_by_test_id("search-input").fill(figures[0]["order_id"])
        page.get_by_test_id("search-button").click()
        expect(rows).to_have_count(1)
        assert rows.first.get_attribute("data-payment-id") == figures[0]["id"]
        page.get_by_test_id("search-input").fill("")
        page.get_by_test_id("search-button").click()
        page.get_by_test_id("filter-from").fill("2000-01-01")
        page.get_by_test_id("filter-to").fill("2000-12-31")
        expect(page.get_by_text("No payments match.")).to_be_visible()
        page.get_by_test_id("filter-from").fill("")
        page.get_by_test_id("filter-to").fill("")
        expect(rows).to_have_count(3)

        # A payment made elsewhere shows up without a reload (the list polls every few seconds).
        late = paid(shop, 77_700)
        expect(rows.first).to_have_attribute("data-payment-id", late["id"])
        figures.append(late)

        # Pagination: twenty rows a page.
        for _ in range(18):
            order = shop.api.post("/api/v1/orders", json={"amount": 10_000}).json()
            shop.api.post("/api/v1/payments", json={"order_id": order["id"], "method": "upi", "vpa": "a@okbank"})
        expect(rows).to_have_count(20)
        page.get_by_test_id("next-page").click()
        expect(page.get_by_test_id("page-number")).to_have_text("Page 2")
        expect(rows).to_have_count(2)
        page.get_by_test_id("prev-page").click()
        expect(rows).to_have_count(20)
        for viewport in VIEWPORTS:
            page.set_viewport_size(VIEWPORTS[viewport])  # type: ignore[arg-type]
            shot(page, "transactions")
        assert serious_violations(page) == []


def test_the_drawer_shows_the_timeline_and_refunds_and_captures(
    dashboard: Dashboard, browser: Browser, shop: Shop, figures: list[dict[str, Any]]
) -> None:
    target = figures[0]
    with context(browser) as ctx:
        page = ctx.new_page()
        sign_in(page, dashboard.url, shop.email)
        page.goto(dashboard.url + "/dashboard/transactions")
        page.get_by_test_id("search-input").fill(target["id"])
        page.get_by_test_id("search-button").click()
        row = page.locator(f'[data-test-id="transaction-row"][data-payment-id="{target["id"]}"]')
        row.click()
        drawer = page.get_by_test_id("payment-drawer")
        expect(drawer).to_be_visible()
        events = drawer.get_by_test_id("timeline-event")
        expect(events.first).to_have_attribute("data-event-type", "payment.created")
        expect(drawer.locator('[data-event-type="payment.succeeded"]')).to_contain_text("by a worker")

        drawer.get_by_test_id("capture-button").click()
        expect(drawer.locator(".badge-captured")).to_be_visible()
        expect(drawer.locator('[data-event-type="payment.captured"]')).to_be_visible()
        expect(drawer.get_by_test_id("capture-button")).to_have_count(0)

        drawer.get_by_test_id("refund-partial").check()
        drawer.get_by_test_id("refund-amount-input").fill("2,60,000")
        drawer.get_by_test_id("refund-button").click()
        expect(drawer.get_by_test_id("refund-error")).to_have_text("At most ₹2,50,000 can be refunded.")
        drawer.get_by_test_id("refund-amount-input").fill("1000.50")
        drawer.get_by_test_id("refund-button").click()
        item = drawer.get_by_test_id("refund-item")
        expect(item).to_have_count(1)
        expect(item.first).to_contain_text("₹1,000.50")
        expect(item.first.get_by_test_id("refund-status")).to_have_text("processed")  # the drawer polls
        expect(drawer.get_by_test_id("drawer-refunded")).to_have_text("₹1,000.50")
        expect(drawer.locator('[data-event-type="refund.processed"]')).to_be_visible()
        refunds = shop.api.get(f"/api/v1/payments/{target['id']}/refunds").json()["items"]
        assert [r["amount"] for r in refunds] == [100_050]

        drawer.get_by_test_id("refund-full").check()
        drawer.get_by_test_id("refund-button").click()
        expect(drawer.get_by_test_id("refund-none-left")).to_be_visible()
        expect(item).to_have_count(2)
        for viewport in VIEWPORTS:
            page.set_viewport_size(VIEWPORTS[viewport])  # type: ignore[arg-type]
            shot(page, "payment-drawer")
        assert serious_violations(page) == []
        page.keyboard.press("Escape")
        expect(drawer).to_have_count(0)


def _receiver(secret: str) -> tuple["subprocess.Popen[bytes]", int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "paygate", "receiver", "--secret", secret, "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    poll(listening, bool, 30, "the webhook receiver")
    return proc, port


def test_webhooks_configure_test_retry_and_view(dashboard: Dashboard, browser: Browser) -> None:
    with dashboard.shop("Hook Shop") as shop:
        with context(browser) as ctx:
            page = ctx.new_page()
            sign_in(page, dashboard.url, shop.email)
            page.goto(dashboard.url + "/dashboard/webhooks")
            expect(page.get_by_test_id("webhook-config")).to_be_visible()
            secret_box = page.get_by_test_id("webhook-secret")
            expect(secret_box).to_have_text(re.compile(r"^whsec_\w+$"))
            first_secret = secret_box.inner_text()
            page.get_by_test_id("regenerate-secret-button").click()
            expect(secret_box).not_to_have_text(first_secret)
            secret = secret_box.inner_text()
            assert shop.api.get("/api/v1/webhooks/config").json()["secret"] == secret

            receiver, port = _receiver(secret)
            try:
                url = f"http://127.0.0.1:{port}/webhook"
                form = page.get_by_test_id("webhook-config-form")
                form.get_by_test_id("webhook-url-input").fill(url)
                form.locator('[data-event="order.paid"]').check()
                form.get_by_test_id("save-webhook-button").click()
                expect(page.get_by_test_id("webhook-message")).to_have_text("Saved.")
                saved = shop.api.get("/api/v1/webhooks/config").json()
                assert saved["url"] == url and "order.paid" in saved["events"]

                page.get_by_test_id("test-webhook-button").click()
                expect(page.get_by_test_id("webhook-message")).to_contain_text("Test event queued")
                item = page.get_by_test_id("webhook-logs-table").get_by_test_id("webhook-log-item").first
                expect(item.get_by_test_id("webhook-event")).to_have_text("webhook.test")
                # The table refreshes by itself until the delivery is recorded.
                expect(item.get_by_test_id("webhook-status")).to_have_text("success")
                expect(item.get_by_test_id("webhook-response-code")).to_have_text("200")
                expect(item.get_by_test_id("webhook-attempts")).to_have_text("1")
                expect(item.get_by_test_id("webhook-last-attempt")).not_to_have_text("—")
                hook_id = item.get_attribute("data-webhook-id")
                assert hook_id

                item.get_by_test_id("view-webhook-button").click()
                expect(page.get_by_test_id("webhook-payload")).to_contain_text('"event": "webhook.test"')
                page.locator(f'[data-test-id="retry-webhook-button"][data-webhook-id="{hook_id}"]').click()
                expect(item.get_by_test_id("webhook-attempts")).to_have_text("1")
                # The retry delivers the same event again, signed, under the same webhook-id.
                arrived = poll(
                    lambda: httpx.get(f"http://127.0.0.1:{port}/logs").json()["items"],
                    lambda items: len(items) == 2,
                    30,
                    "the retried delivery",
                )
                assert arrived[0]["webhook_id"] == arrived[1]["webhook_id"]
                assert all(r["signature_valid"] and r["event"] == "webhook.test" for r in arrived)
                for viewport in VIEWPORTS:
                    page.set_viewport_size(VIEWPORTS[viewport])  # type: ignore[arg-type]
                    shot(page, "webhooks")
                assert serious_violations(page) == []
            finally:
                receiver.terminate()
                receiver.wait(10)

            origins = shop.api.get("/api/v1/checkout/config")
            if origins.status_code == 404:
                expect(page.get_by_test_id("checkout-origins-unavailable")).to_be_visible()
            else:
                box = page.get_by_test_id("checkout-origins-input")
                box.fill("https://shop.example\nhttps://www.shop.example")
                page.get_by_test_id("save-origins-button").click()
                poll(
                    lambda: shop.api.get("/api/v1/checkout/config").json(),
                    lambda c: c["allowed_origins"] == ["https://shop.example", "https://www.shop.example"],
                    10,
                    "the saved origins",
                )


def test_docs_show_the_three_sections_with_copyable_snippets(
    dashboard: Dashboard, browser: Browser, shop: Shop
) -> None:
    with context(browser) as ctx:
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=dashboard.url)
        page = ctx.new_page()
        sign_in(page, dashboard.url, shop.email)
        page.goto(dashboard.url + "/dashboard/docs")
        docs = page.get_by_test_id("api-docs")
        expect(docs.get_by_test_id("section-create-order").get_by_test_id("code-snippet-create-order")).to_contain_text(
            "/api/v1/orders"
        )
        expect(docs.get_by_test_id("section-sdk-integration").get_by_test_id("code-snippet-sdk")).to_contain_text(
            "new PaymentGateway"
        )
        hook = docs.get_by_test_id("section-webhook-verification").get_by_test_id("code-snippet-webhook")
        expect(hook).to_contain_text("createHmac")
        expect(hook).to_contain_text("hmac.compare_digest")
        expect(docs).to_contain_text("Idempotency-Key")
        expect(docs).to_contain_text("webhook-signature")
        assert (docs.get_by_test_id("openapi-link").get_attribute("href") or "").endswith("/docs")
        expect(docs.get_by_test_id("code-snippet-create-order")).to_contain_text(shop.api_key)
        expect(docs.get_by_test_id("code-snippet-create-order")).not_to_contain_text(shop.api_secret)
        page.get_by_test_id("copy-code-snippet-create-order").click()
        expect(page.get_by_test_id("copy-code-snippet-create-order")).to_have_text("Copied")
        assert "/api/v1/orders" in page.evaluate("navigator.clipboard.readText()")
        for viewport in VIEWPORTS:
            page.set_viewport_size(VIEWPORTS[viewport])  # type: ignore[arg-type]
            shot(page, "docs")
        assert serious_violations(page) == []


def test_two_merchants_never_see_each_other(
    dashboard: Dashboard, browser: Browser, shop: Shop, figures: list[dict[str, Any]]
) -> None:
    with dashboard.shop("Other Shop") as other:
        theirs = paid(other, 4_200)
        with context(browser) as mine_ctx, context(browser) as their_ctx:
            mine, them = mine_ctx.new_page(), their_ctx.new_page()
            sign_in(mine, dashboard.url, shop.email)
            sign_in(them, dashboard.url, other.email)
            them.goto(dashboard.url + "/dashboard/transactions")
            rows = them.get_by_test_id("transaction-row")
            expect(rows).to_have_count(1)
            assert rows.first.get_attribute("data-payment-id") == theirs["id"]
            expect(them.get_by_test_id("total-transactions")).to_have_count(0)
            them.goto(dashboard.url + "/dashboard")
            expect(them.get_by_test_id("total-transactions")).to_have_text("1")
            expect(them.get_by_test_id("api-key")).to_have_text(other.api_key)
            # Through the same API the dashboard calls, the other merchant's objects do not exist.
            for path in (
                f"/api/v1/payments/{figures[0]['id']}",
                f"/api/v1/payments/{figures[0]['id']}/events",
                f"/api/v1/orders/{figures[0]['order_id']}",
            ):
                assert them.request.get(dashboard.url + path).status == 404, path
                assert mine.request.get(dashboard.url + path).status == 200, path
            mine.goto(dashboard.url + "/dashboard/transactions")
            expect(mine.get_by_test_id("transaction-row").first).to_be_visible()
            assert mine.locator(f'[data-payment-id="{theirs["id"]}"]').count() == 0


def test_a_post_without_the_csrf_token_is_refused(dashboard: Dashboard, browser: Browser, shop: Shop) -> None:
    with context(browser) as ctx:
        page = ctx.new_page()
        sign_in(page, dashboard.url, shop.email)
        before = shop.api.get("/api/v1/orders", params={"count": 100}).json()["count"]
        answer = page.request.post(dashboard.url + "/api/v1/orders", data={"amount": 5000})
        assert answer.status == 401
        assert answer.json()["error"]["description"] == "Missing or invalid CSRF token"
        assert "www-authenticate" not in answer.headers  # no Basic-auth pop-up in a browser
        assert shop.api.get("/api/v1/orders", params={"count": 100}).json()["count"] == before


def test_an_expired_session_is_refused_and_goes_to_login(dashboard: Dashboard, browser: Browser, shop: Shop) -> None:
    with context(browser) as ctx:
        page = ctx.new_page()
        sign_in(page, dashboard.url, shop.email)
        page.goto(dashboard.url + "/dashboard/transactions")
        expect(page.get_by_test_id("transactions-table")).to_be_visible()
        with psycopg.connect(dashboard.gateway.env["DATABASE_URL"]) as conn:
            conn.execute(
                "UPDATE dashboard_sessions SET expires_at = now() - interval '1 second' WHERE merchant_id = %s",
                (shop.id,),
            )
        # The next poll gets a 401 and the page goes to /login by itself.
        expect(page).to_have_url(re.compile(r"/login$"), timeout=20_000)
        assert page.request.get(dashboard.url + "/api/v1/dashboard/session").status == 401


def test_signing_out_ends_the_session(dashboard: Dashboard, browser: Browser, shop: Shop) -> None:
    with context(browser, "phone") as ctx:
        page = ctx.new_page()
        sign_in(page, dashboard.url, shop.email)
        page.get_by_test_id("logout-button").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        page.goto(dashboard.url + "/dashboard")
        expect(page).to_have_url(re.compile(r"/login$"))
        assert page.request.get(dashboard.url + "/api/v1/orders").status == 401
        sign_in(page, dashboard.url, shop.email, PASSWORD)  # and back in


def test_the_server_sends_security_headers_serves_routes_and_keeps_sessions_apart(
    dashboard: Dashboard, shop: Shop
) -> None:
    with (
        httpx.Client(base_url=dashboard.url, timeout=10) as signed_in,
        httpx.Client(base_url=dashboard.url, timeout=10) as stranger,
    ):
        page = stranger.get("/dashboard/transactions")
        assert page.status_code == 200 and '<div id="root">' in page.text  # any route gets the app
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        assert stranger.get("/../pyproject.toml").status_code in (200, 404)
        assert "[project]" not in stranger.get("/..%2Fpyproject.toml").text
        assert signed_in.post("/api/v1/dashboard/login", json={"email": shop.email, "password": PASSWORD}).is_success
        assert signed_in.get("/api/v1/orders").status_code == 200
        # The proxy keeps no cookie of its own: a browser without the cookie is nobody.
        assert stranger.get("/api/v1/orders").status_code == 401
        assert stranger.get("/api/v1/dashboard/session").status_code == 401
