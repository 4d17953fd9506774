"""Payments that did not succeed take neither capture nor refund: pending ones (on a system whose processor
holds every payment for ten minutes) and failed ones."""

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from payflow import AUTH, isolated_gateway, pending_payment

import commands
import projections
from commands import payment
from commands.usecases import settle_payment

NOT_CAPTURABLE = {"code": "BAD_REQUEST_ERROR", "description": "Payment not in capturable state"}
NOT_REFUNDABLE = {"code": "BAD_REQUEST_ERROR", "description": "Payment not in refundable state"}


@pytest.fixture(scope="module")
def held(
    tmp_path_factory: pytest.TempPathFactory, fresh_database: Callable[[], str]
) -> Iterator[tuple[httpx.Client, str]]:
    """A client of a system whose processor takes ten minutes, and that system's database URL."""
    folder: Path = tmp_path_factory.mktemp("held")
    database_url = fresh_database()
    with isolated_gateway(folder, database_url, TEST_PROCESSING_DELAY="600000") as gw:
        with httpx.Client(base_url=gw.url, headers=AUTH, timeout=10) as client:
            yield client, database_url


async def _decline(database_url: str, payment_id: str) -> None:
    """Decide a pending payment as failed through the ordinary command path, as the processor would."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        session = commands.Session(conn, projections.project_inline, {"actor": "test"})
        await settle_payment(
            session, payment_id, payment.DecidePayment("2030-01-01T00:00:00.000000Z", "Declined by the test bank")
        )


@pytest.fixture(scope="module")
def pending(held: tuple[httpx.Client, str]) -> dict[str, Any]:
    return pending_payment(held[0], 50000)


@pytest.fixture(scope="module")
def failed(held: tuple[httpx.Client, str]) -> dict[str, Any]:
    api, database_url = held
    pay = pending_payment(api, 50000)
    asyncio.run(_decline(database_url, pay["id"]))
    body: dict[str, Any] = api.get(f"/api/v1/payments/{pay['id']}").json()
    assert body["status"] == "failed"
    return body


class TestPendingPayment:
    def test_a_pending_payment_cannot_be_captured(
        self, held: tuple[httpx.Client, str], pending: dict[str, Any]
    ) -> None:
        r = held[0].post(f"/api/v1/payments/{pending['id']}/capture", json={"amount": 50000})
        assert r.status_code == 400
        assert r.json()["error"] == NOT_CAPTURABLE

    def test_a_pending_payment_cannot_be_refunded(
        self, held: tuple[httpx.Client, str], pending: dict[str, Any]
    ) -> None:
        r = held[0].post(f"/api/v1/payments/{pending['id']}/refunds", json={"amount": 100})
        assert r.status_code == 400
        assert r.json()["error"] == NOT_REFUNDABLE
        body = held[0].get(f"/api/v1/payments/{pending['id']}").json()
        assert (body["status"], body["captured"], body["amount_refunded"]) == ("pending", False, 0)


class TestFailedPayment:
    def test_a_failed_payment_cannot_be_captured(self, held: tuple[httpx.Client, str], failed: dict[str, Any]) -> None:
        r = held[0].post(f"/api/v1/payments/{failed['id']}/capture", json={"amount": 50000})
        assert r.status_code == 400
        assert r.json()["error"] == NOT_CAPTURABLE

    def test_a_failed_payment_cannot_be_refunded(self, held: tuple[httpx.Client, str], failed: dict[str, Any]) -> None:
        r = held[0].post(f"/api/v1/payments/{failed['id']}/refunds", json={"amount": 100})
        assert r.status_code == 400
        assert r.json()["error"] == NOT_REFUNDABLE
        assert held[0].get(f"/api/v1/payments/{failed['id']}/refunds").json()["count"] == 0
