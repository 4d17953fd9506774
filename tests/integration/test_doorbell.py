"""Consumers wait on their queue's doorbell (workers.doorbell) against a real Redis: an enqueue wakes them, idle or
busy, and without a subscribed listener they poll as Dramatiq does."""

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
import redis

from workers import doorbell
from workers.broker import NAMESPACE, Broker

#: Longer than any test waits: a consumer that returns at all was woken, not timed out.
LONG_S = 120.0


@pytest.fixture
def broker(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Broker]:
    monkeypatch.setattr(doorbell, "IDLE_S", LONG_S)
    redis.Redis.from_url(redis_url).flushdb()
    b = Broker(url=redis_url, namespace=NAMESPACE, poll_ms=50)
    b.declare_queue("doorbell-test")
    yield b
    b.close()


def poll(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout}s for {what}"
        time.sleep(0.01)


def in_thread(consumer: Any) -> tuple[threading.Thread, list[Any]]:
    """``next(consumer)`` in a thread of its own; the list gets what it returned."""
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(next(consumer)), daemon=True)
    t.start()
    return t, got


class Watched(threading.Event):
    """A bell that tells when somebody waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def message() -> dramatiq.Message[Any]:
    return dramatiq.Message("doorbell-test", "noop", (), {}, {})


def test_an_enqueue_wakes_an_idle_consumer(broker: Broker, redis_url: str) -> None:
    consumer = broker.consume("doorbell-test")
    poll(lambda: broker.doorbell.listening.is_set(), what="the doorbell subscribed")
    bell = broker.doorbell.bell("doorbell-test")
    bell.set()
    t, got = in_thread(consumer)
    poll(lambda: not bell.is_set(), what="the consumer to clear its bell and look")  # then it waits
    # Another process's broker (another connection) sends: the ring crosses Redis.
    sender = Broker(url=redis_url, namespace=NAMESPACE)
    sender.enqueue(message())
    t.join(LONG_S / 4)
    assert not t.is_alive(), "the consumer slept through the ring"
    fetched = got[0] or next(consumer)  # woken mid-wait it looks again on the next call
    assert fetched is not None and fetched.actor_name == "noop"
    sender.close()


def test_a_delayed_message_rings_its_delay_queue(broker: Broker) -> None:
    consumer = broker.consume("doorbell-test.DQ")
    poll(lambda: broker.doorbell.listening.is_set(), what="the doorbell subscribed")
    t, got = in_thread(consumer)
    broker.enqueue(message(), delay=60_000)
    t.join(LONG_S / 4)
    assert not t.is_alive()
    assert (got[0] or next(consumer)) is not None  # fetched at once if it came before the consumer looked


def test_a_consumer_with_work_in_hand_polls(broker: Broker) -> None:
    consumer = broker.consume("doorbell-test")
    poll(lambda: broker.doorbell.listening.is_set(), what="the doorbell subscribed")
    broker.enqueue(message())
    held = next(consumer) or next(consumer)
    assert held is not None
    # Unacked, it is in hand: the next look is Dramatiq's own poll (at most poll_ms), not a wait for a ring.
    t, got = in_thread(consumer)
    t.join(LONG_S / 4)
    assert not t.is_alive() and got == [None]
    consumer.ack(held)


def test_an_enqueue_wakes_a_consumer_with_work_in_hand_before_its_poll(redis_url: str) -> None:
    """Busy, it waits for its poll interval (a minute here), but a ring ends the wait: a message enqueued while
    a worker is busy is picked up at once, not a poll interval later."""
    b = Broker(url=redis_url, namespace=NAMESPACE, poll_ms=60_000)
    b.declare_queue("doorbell-test")
    try:
        consumer = b.consume("doorbell-test", prefetch=2)
        poll(lambda: b.doorbell.listening.is_set(), what="the doorbell subscribed")
        b.enqueue(message())
        held = next(consumer) or next(consumer)
        assert held is not None
        bell = Watched()
        b.doorbell._bells["doorbell-test"] = consumer._bell = bell
        t, got = in_thread(consumer)
        poll(bell.waiting.is_set, what="the busy consumer to wait on its bell")
        b.enqueue(message())
        t.join(30)
        assert not t.is_alive(), "the busy consumer slept through the ring"
        assert (got[0] or next(consumer)) is not None
        consumer.ack(held)
    finally:
        b.close()


def test_the_listener_resubscribes_after_losing_its_connection(broker: Broker, redis_url: str) -> None:
    consumer = broker.consume("doorbell-test")
    poll(lambda: broker.doorbell.listening.is_set(), what="the doorbell subscribed")
    t, _ = in_thread(consumer)
    admin = redis.Redis.from_url(redis_url)
    mine = [c["id"] for c in admin.client_list() if "enqueued" in str(c.get("cmd", "")) or int(c.get("sub", 0))]
    assert mine
    for client_id in mine:
        admin.client_kill_filter(_id=client_id)
    # Losing the subscription wakes every waiter (they poll until it is back), then it subscribes again.
    t.join(LONG_S / 4)
    assert not t.is_alive()
    poll(lambda: broker.doorbell.listening.is_set(), what="the doorbell subscribed again")
    t, _ = in_thread(consumer)
    broker.enqueue(message())
    t.join(LONG_S / 4)
    assert not t.is_alive()


def test_a_batch_sends_its_messages_in_one_go_and_rings_each_queue_once(broker: Broker, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(broker.channel)
    queue, delayed = f"{NAMESPACE}:doorbell-test", f"{NAMESPACE}:doorbell-test.DQ"
    with broker.batch():
        for _ in range(5):
            broker.enqueue(message())
        broker.enqueue(message(), delay=60_000)
        assert client.llen(queue) == 0 and client.llen(delayed) == 0, "sent before the batch ended"
    assert (client.llen(queue), client.llen(delayed)) == (5, 1)
    rings = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(rings) < 3:
        if got := listener.get_message(timeout=0.2):
            rings.append(got["data"].decode())
    assert sorted(rings) == ["doorbell-test", "doorbell-test.DQ"], rings
    # The messages are Dramatiq's own: a consumer takes them as if sent one by one.
    consumer = broker.consume("doorbell-test")
    taken: list[Any] = []
    deadline = time.monotonic() + 30
    while len(taken) < 5 and time.monotonic() < deadline:
        if (m := next(consumer)) is not None:  # None: nothing fetched within the consumer's timeout
            taken.append(m)
            consumer.ack(m)  # it holds one at a time (prefetch 1)
    assert [m.actor_name for m in taken] == ["noop"] * 5
    consumer.close()


def test_a_batch_that_raises_sends_nothing(broker: Broker, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(RuntimeError), broker.batch():
        broker.enqueue(message())
        raise RuntimeError("the dispatcher's batch failed")
    assert client.llen(f"{NAMESPACE}:doorbell-test") == 0
    broker.enqueue(message())  # and the broker enqueues one by one again afterwards
    assert client.llen(f"{NAMESPACE}:doorbell-test") == 1


def test_a_message_due_after_an_idle_look_rings_nothing_and_is_fetched_by_then(
    broker: Broker, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delayed message rings its delay queue only when it is due before the consumer would look anyway: a
    processor's seconds-long delays cost no wake-up of every worker for each dispatcher batch."""
    monkeypatch.setattr(doorbell, "IDLE_S", 0.5)
    client = redis.Redis.from_url(redis_url)
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(broker.channel)

    def rings_until(marker: str) -> list[str]:
        """What rang before ``marker``, which we publish ourselves: Redis delivers in the order it was sent."""
        client.publish(broker.channel, marker)
        rang: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (got := listener.get_message(timeout=0.2)) and (name := got["data"].decode()) == marker:
                return rang
            if got:
                rang.append(name)
        raise AssertionError(f"{marker} never came back")

    poll(lambda: client.pubsub_numsub(broker.channel)[0][1] >= 1, what="the listener subscribed")
    rings_until("ready")
    broker.enqueue(message(), delay=60_000)  # due long after an idle consumer's next look (IDLE_S)
    assert rings_until("after the long delay") == []
    broker.enqueue(message(), delay=100)  # due before it: rings, as an undelayed one does
    assert rings_until("after the short delay") == ["doorbell-test.DQ"]
    # Unrung, the delay queue's idle consumer still finds both on its next look, within IDLE_S.
    consumer = broker.consume("doorbell-test.DQ", prefetch=2)
    fetched: list[Any] = []
    deadline = time.monotonic() + 30
    while len(fetched) < 2 and time.monotonic() < deadline:
        if (m := next(consumer)) is not None:
            fetched.append(m)
    assert len(fetched) == 2
    consumer.close()
