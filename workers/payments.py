"""The `payments` queue: the simulated processor that decides each payment, once."""

import random
from datetime import UTC, datetime
from typing import Any

import structlog

from commands import payment
from commands.usecases import settle_payment
from workers import metrics
from workers.runtime import Runtime

log = structlog.get_logger(__name__)


def delay_ms(settings: Any, rng: random.Random) -> int:
    """How long the processor takes: exactly TEST_PROCESSING_DELAY in test mode, else 5–10 s."""
    if settings.test_mode:
        return int(settings.test_processing_delay)
    return rng.randint(settings.processing_delay_min, settings.processing_delay_max)


def verdict(settings: Any, method: str, rng: random.Random, now: datetime) -> payment.DecidePayment:
    """The processor's answer: TEST_PAYMENT_SUCCESS in test mode, else the method's success rate."""
    if settings.test_mode:
        ok = bool(settings.test_payment_success)
    else:
        rate = settings.upi_success_rate if method == "upi" else settings.card_success_rate
        ok = rng.random() < rate
    at = now.isoformat().replace("+00:00", "Z")
    return payment.DecidePayment(at, None if ok else "Payment declined by the issuing bank")


async def process_payment(runtime: Runtime, payment_id: str, method: str) -> None:
    """Decide ``payment_id``; a redelivered or duplicated job finds it decided and does nothing."""
    async with runtime.session(causation=payment_id) as session:
        decided = await settle_payment(
            session, payment_id, verdict(runtime.settings, method, random.SystemRandom(), datetime.now(UTC))
        )
    if decided:
        status = "failed" if isinstance(decided[0], payment.PaymentFailed) else "success"
        metrics.PAYMENTS_DECIDED.labels(status).inc()
        log.info("payment.decided", payment_id=payment_id, status=status)
