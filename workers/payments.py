"""The `payments` queue: the simulated processor that decides each payment, once."""

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import structlog

from api import logging as applog
from commands import payment
from commands.errors import DomainError
from commands.usecases import settle_payment, settle_payments
from projections.timefmt import micro
from workers import metrics
from workers.runtime import Runtime

log = structlog.get_logger(__name__)
#: Decisions of batch messages under way at once in a worker process (each holds a pooled connection).
AT_ONCE = 8


#: A live processor's delays are drawn on this grid (when the range is wider), so that the decisions a dispatcher
#: batch owes at the same moment go in one delayed message (``dispatcher.coalesce``), not one message each.
DELAY_GRAIN_MS = 250


def delay_ms(settings: Any, rng: random.Random) -> int:
    """How long the processor takes: exactly TEST_PROCESSING_DELAY in test mode, else 5–10 s."""
    if settings.test_mode:
        return int(settings.test_processing_delay)
    low, high = settings.processing_delay_min, settings.processing_delay_max
    return rng.randrange(low, high + 1, DELAY_GRAIN_MS) if high - low >= DELAY_GRAIN_MS else rng.randint(low, high)


def verdict(settings: Any, method: str, rng: random.Random, now: datetime) -> payment.DecidePayment:
    """The processor's answer: TEST_PAYMENT_SUCCESS in test mode, else the method's success rate."""
    if settings.test_mode:
        ok = bool(settings.test_payment_success)
    else:
        rate = settings.upi_success_rate if method == "upi" else settings.card_success_rate
        ok = rng.random() < rate
    return payment.DecidePayment(micro(now), None if ok else "Payment declined by the issuing bank")


async def process_payment(runtime: Runtime, payment_id: str, method: str) -> None:
    """Decide ``payment_id``; a redelivered or duplicated job finds it decided and does nothing."""
    async with runtime.session(causation=payment_id) as session:
        decided = await settle_payment(
            session, payment_id, verdict(runtime.settings, method, random.SystemRandom(), datetime.now(UTC))
        )
    _decided(payment_id, decided)


def _decided(payment_id: str, decided: list[Any]) -> None:
    if decided:
        status = "failed" if isinstance(decided[0], payment.PaymentFailed) else "success"
        metrics.PAYMENTS_DECIDED.labels(status).inc()
        applog.info("payment.decided", payment_id=payment_id, status=status)  # one a payment: made directly


async def process_payments(runtime: Runtime, items: list[list[Any]]) -> None:
    """Decide the payments a dispatcher batch owed at once, each (payment id, method, ids to log): together, in
    a few statements (``settle_payments``), or, when another worker decided one of them meanwhile, one by one
    as ``process_payment`` does, at most ``AT_ONCE`` at a time in this process. A failure fails the message once
    the others are done; its retry finds those decided."""
    rng, now = random.SystemRandom(), datetime.now(UTC)
    verdicts = [(payment_id, verdict(runtime.settings, method, rng, now)) for payment_id, method, _ in items]
    async with runtime.session() as session:
        outcomes = await settle_payments(session, verdicts)
    if outcomes is None:
        return await _one_by_one(runtime, items)
    for payment_id, _, ids in items:
        with structlog.contextvars.bound_contextvars(**(ids or {})):
            outcome = outcomes[payment_id]
            if isinstance(outcome, DomainError):  # final, as for a job of its own: nothing to retry
                log.warning("payment.not_decided", payment_id=payment_id, error=f"{type(outcome).__name__}: {outcome}")
            else:
                _decided(payment_id, outcome)
                outcomes[payment_id] = []  # named twice: logged once


async def _one_by_one(runtime: Runtime, items: list[list[Any]]) -> None:
    gate = runtime.resources.get("deciding") or runtime.resources.setdefault("deciding", asyncio.Semaphore(AT_ONCE))

    async def one(payment_id: str, method: str, ids: dict[str, Any] | None) -> None:
        async with gate:
            structlog.contextvars.bind_contextvars(**(ids or {}))  # this task's own copy of the context
            await process_payment(runtime, payment_id, method)

    outcomes = await asyncio.gather(*(one(*item) for item in items), return_exceptions=True)
    for (payment_id, *_), outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, DomainError):  # final, as for a job of its own: nothing to retry
            log.warning("payment.not_decided", payment_id=payment_id, error=f"{type(outcome).__name__}: {outcome}")
    if failed := next((o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, DomainError)), None):
        raise failed
