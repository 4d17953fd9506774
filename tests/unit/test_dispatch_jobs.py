"""The jobs the dispatcher makes of a batch of events: the batch's decisions with the same delay go in as few
messages as the batch size allows, each payment with the ids to log; a live processor's delays are drawn on a
grid, so that equal ones are common."""

import random
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import ledger
from workers import dispatcher
from workers.payments import DELAY_GRAIN_MS, delay_ms


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


def test_delayed_decisions_with_the_same_delay_go_together() -> None:
    jobs = dispatcher.jobs_for([created(1), created(2)], settings(600_000), random.Random(1))
    assert jobs == [
        ("process_payments", ([["pay_1", "upi", ids("pay_1")], ["pay_2", "upi", ids("pay_2")]],), 600_000),
    ]


def test_a_live_processors_decisions_go_together_by_their_delay() -> None:
    live = SimpleNamespace(test_mode=False, processing_delay_min=5000, processing_delay_max=10000)
    jobs = dispatcher.jobs_for([created(n) for n in range(200)], live, random.Random(1))
    delays = [delay for _, _, delay in jobs]
    assert len(set(delays)) == len(delays) <= (10000 - 5000) // DELAY_GRAIN_MS + 1  # one message per delay
    assert all(5000 <= d <= 10000 and (d - 5000) % DELAY_GRAIN_MS == 0 for d in delays)
    assert sorted(item[0] for _, args, _ in jobs for item in args[0]) == sorted(f"pay_{n}" for n in range(200))


def test_a_live_range_narrower_than_the_grain_is_drawn_to_the_millisecond() -> None:
    narrow = SimpleNamespace(test_mode=False, processing_delay_min=100, processing_delay_max=200)
    rng = random.Random(1)
    drawn = {delay_ms(narrow, rng) for _ in range(200)}
    assert min(drawn) >= 100 and max(drawn) <= 200 and len(drawn) > 20


def ids(payment_id: str) -> dict[str, str]:
    """The ids logged with a decision of ``created``'s payments (all from the request req-1)."""
    return {"payment_id": payment_id, "correlation_id": "req-1", "merchant_id": "m-1"}
