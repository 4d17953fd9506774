"""The `refunds` queue: the simulated refund processor that marks each refund processed, once."""

import random
from datetime import UTC, datetime
from typing import Any

from commands import payment, refund
from commands.handler import handle
from projections.timefmt import micro
from workers.runtime import Runtime


def delay_ms(settings: Any, rng: random.Random) -> int:
    """How long the processor takes: exactly TEST_PROCESSING_DELAY in test mode, else 3–5 s."""
    if settings.test_mode:
        return int(settings.test_processing_delay)
    return rng.randint(settings.refund_delay_min, settings.refund_delay_max)


async def process_refund(runtime: Runtime, payment_id: str, refund_id: str) -> None:
    """Mark ``refund_id`` processed; a redelivered, duplicated or re-driven job finds it done and does nothing."""
    at = micro(datetime.now(UTC))
    async with runtime.session(causation=refund_id) as session:
        command = refund.ProcessRefund(refund_id, at)
        await handle(session, payment, payment.stream_id(payment_id), command, serialize=True)
