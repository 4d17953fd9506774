"""The dashboard's browser harness: its server beside the shared gateway, headless Chromium, sign-in, axe, shots.

Fixtures are imported by the test modules (``from dashkit import ...``), so this folder needs no conftest.py.
"""

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from gatekit import free_port, poll  # noqa: E402
from harness import create_merchant  # noqa: E402

from paygate.uibuild import ensure_built  # noqa: E402

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "a long dashboard password"
# Assertions poll the page up to this long: on a loaded 2-core machine a worker's decision, the projector and
# the page's 3-second polling together can take well over Playwright's default of 5 s.
expect.set_options(timeout=30_000)

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@dataclass
class Shop:
    """A merchant of a test's own: id, email and password for the dashboard, an API client for its data."""

    id: str
    email: str
    api_key: str
    api_secret: str
    api: httpx.Client


@dataclass
class Dashboard:
    url: str
    gateway: Any

    @contextlib.contextmanager
    def shop(self, name: str) -> Iterator[Shop]:
        creds = create_merchant(self.gateway.env, name, PASSWORD)
        auth = {"X-Api-Key": creds["api_key"], "X-Api-Secret": creds["api_secret"]}
        with httpx.Client(base_url=self.gateway.url, headers=auth, timeout=10) as client:
            yield Shop(creds["id"], creds["email"], creds["api_key"], creds["api_secret"], client)


@pytest.fixture(scope="module")
def dashboard(gateway: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """``paygate dashboard`` on a free port, passing /api to the shared gateway."""
    ensure_built(ROOT / "dashboard_ui")
    port = free_port()
    env = {**gateway.env, "DASHBOARD_PORT": str(port), "DASHBOARD_API_URL": gateway.url}
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "paygate", "dashboard"], env=env, cwd=ROOT, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{url}/dashboard-health", timeout=2).status_code == 200
        return False

    try:
        poll(up, bool, 60, "the dashboard server")
        yield Dashboard(url, gateway)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        p.selectors.set_test_id_attribute("data-test-id")  # the contract's attribute
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def context(browser: Browser, viewport: str = "desktop") -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        ctx.close()


def sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_test_id("email-input").fill(email)
    page.get_by_test_id("password-input").fill(password)
    page.get_by_test_id("login-button").click()
    expect(page.get_by_test_id("dashboard")).to_be_visible()


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot under tests/artifacts, named for the page and the viewport."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": 0, "height": 0}
    path = ARTIFACTS / f"dashboard-{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found: list[dict[str, Any]] = results.response["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def paid(shop: Shop, amount: int, method: str = "upi") -> dict[str, Any]:
    """A payment of ``amount`` paise that succeeded."""
    order = shop.api.post("/api/v1/orders", json={"amount": amount}).json()
    body: dict[str, Any] = {"order_id": order["id"], "method": method}
    if method == "upi":
        body["vpa"] = "payer@okbank"
    else:
        body["card"] = {
            "number": "4111111111111111",
            "expiry_month": "12",
            "expiry_year": "2099",
            "cvv": "123",
            "holder_name": "A Payer",
        }
    payment = shop.api.post("/api/v1/payments", json=body).json()
    decided: dict[str, Any] = poll(
        lambda: shop.api.get(f"/api/v1/payments/{payment['id']}").json(),
        lambda p: p["status"] != "pending",
        60,
        f"a decision on {payment['id']}",
    )
    return decided
