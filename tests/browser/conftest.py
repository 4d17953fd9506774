"""Browser tests of the checkout: a real headless Chromium (the system's, through Playwright) against real
gateways, checkout servers and demo shops. A missing Chromium fails these tests, it never skips them."""

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from payflow import own_redis
from stack import ARTIFACTS, Stack, start_stack

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def checkout_dist() -> Path:
    """The checkout UI, built as `make run` builds it (npm ci the first time); the time it took is printed."""
    from paygate.uibuild import ensure_built

    started = time.monotonic()
    dist = ensure_built(ROOT / "checkout_ui")
    print(f"\ncheckout_ui ready in {time.monotonic() - started:.1f} s (ensure_built)", file=sys.stderr)
    return dist


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per module. Not per session: Playwright's sync API keeps an event loop running in this
    thread while it is open, and every asyncio test after it (pytest-asyncio) would then fail to start."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def _stack(folder: Path, database_url: str, **env: str) -> Iterator[Stack]:
    # A Redis server of its own: its workers never take another system's jobs.
    with own_redis(folder / "redis") as redis_url:
        stack = start_stack(folder, database_url, redis_url, **env)
        yield stack
        stack.close()


@pytest.fixture(scope="module")
def paying(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any, checkout_dist: Path) -> Iterator[Stack]:
    """Gateway (payments succeed after 1 s), checkout server and demo shop, each on an origin of its own."""
    yield from _stack(tmp_path_factory.mktemp("paying"), fresh_database(), TEST_PROCESSING_DELAY="1000")


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any, checkout_dist: Path) -> Iterator[Stack]:
    """The same with TEST_PAYMENT_SUCCESS=false: every payment fails."""
    yield from _stack(
        tmp_path_factory.mktemp("failing"), fresh_database(), TEST_PROCESSING_DELAY="500", TEST_PAYMENT_SUCCESS="false"
    )


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.add_init_script(path=str(Path(__file__).with_name("settled.js")))
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture(scope="session", autouse=True)
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
