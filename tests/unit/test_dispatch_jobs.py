"""The jobs the dispatcher makes of a batch of events: a processor with no delay gets the batch's decisions in
as few messages as the batch size allows, each payment with the ids to log; one with a delay gets a delayed
job a payment, as before."""

import random
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import ledger
from workers import dispatcher


def created(n: int, request_id: str | None = "req-1") -> ledger.Recorded:
    return ledger.Recorded(
        position=n,
        tx_id=1,
        event_id=uuid.uuid4(),
        stream_id=f"payment-pay_{n}",
        stream_version=1,
        type="payment.created.v1",
        data={"payment_id": f"pay_{n}", "method": "upi", "merchant_id": "m-1"},
        metadata={"request_id": request_id} if request_id else {},
        recorded_at=datetime.now(UTC),
    )


def settings(delay_ms: int) -> SimpleNamespace:
    return SimpleNamespace(test_mode=True, test_processing_delay=delay_ms)


def test_undelayed_decisions_of_a_batch_go_in_messages_of_a_hundred() -> None:
    events = [created(n, request_id=None if n == 7 else f"req-{n}") for n in range(250)]
    jobs = dispatcher.jobs_for(events, settings(0), random.Random(1))
    assert [(name, len(args[0]), delay) for name, args, delay in jobs] == [("process_payments", 100, 0)] * 2 + [
        ("process_payments", 50, 0)
    ]
    items = [item for _, args, _ in jobs for item in args[0]]
    assert [i[0] for i in items] == [f"pay_{n}" for n in range(250)]
    assert items[3] == ["pay_3", "upi", {"payment_id": "pay_3", "correlation_id": "req-3", "merchant_id": "m-1"}]
    assert items[7][2] is None  # no request behind it: nothing to log with it


def test_delayed_decisions_stay_one_job_each_with_the_delay() -> None:
    jobs = dispatcher.jobs_for([created(1), created(2)], settings(600_000), random.Random(1))
    assert jobs == [("process_payment", ("pay_1", "upi"), 600_000), ("process_payment", ("pay_2", "upi"), 600_000)]
