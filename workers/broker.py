"""The Dramatiq broker on Redis, shared by the API (for queue figures), the dispatcher and the workers."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.middleware.asyncio import AsyncIO

from workers import doorbell
from workers.doorbell import Doorbell, WakingConsumer, channel
from workers.jobs import JobCounters

#: Prefix of every Redis key the broker writes.
NAMESPACE = "paygate"
QUEUES = ("payments", "refunds", "webhooks")
#: A delayed message due later than ``doorbell.IDLE_S`` plus this rings no bell (``rings``): time for the
#: delay queue's consumer to fetch it after its idle wait, and more.
RING_MARGIN_S = 1.0


class Broker(RedisBroker):
    """Dramatiq's Redis broker, whose enqueues ring the doorbell of idle consumers (workers.doorbell).

    A consumer with work in hand polls its queue at least every ``poll_ms``, whatever timeout the worker asks
    for: the worker's own timeout only sets how often its idle threads look up (see ``processes.worker``).
    """

    def __init__(self, *, poll_ms: int = 100, **options: Any) -> None:
        super().__init__(**options)  # type: ignore[no-untyped-call]
        self.poll_ms = poll_ms
        self.channel = channel(self.client, self.namespace)
        self._batch = threading.local()

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> WakingConsumer:
        return WakingConsumer(self, queue_name, prefetch, min(timeout, self.poll_ms))

    @cached_property
    def doorbell(self) -> Doorbell:
        return Doorbell(self.client, self.channel)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The enqueues of this thread inside the block go to Redis in one pipeline when it ends, each queue's
        bell rung once after its messages; one round trip instead of two per message. If the block raises,
        none is sent (the dispatcher then enqueues the whole batch again)."""
        pipe, queues = self.client.pipeline(transaction=False), set[str]()
        self._batch.open = (pipe, queues)
        try:
            yield
            for queue in sorted(queues):
                pipe.publish(self.channel, queue)
            pipe.execute()
        finally:
            self._batch.open = None

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> dramatiq.Message[Any]:
        sent: dramatiq.Message[Any] = super().enqueue(message, delay=delay)
        if not rings(delay):
            return sent
        if batch := getattr(self._batch, "open", None):
            batch[1].add(sent.queue_name)
        else:
            self.client.publish(self.channel, sent.queue_name)  # sent to the delay queue when delayed
        return sent

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> Any:
        """Dramatiq's own enqueue script, on this thread's batch pipeline when one is open."""
        batch = getattr(self._batch, "open", None)
        if batch is None:
            return self._dispatch("enqueue")(queue_name, message_id, data)  # type: ignore[no-untyped-call]
        args = [
            "enqueue",
            current_millis(),
            queue_name,
            self.broker_id,
            self.heartbeat_timeout,
            self.dead_message_ttl,
            self._should_do_maintenance("enqueue"),
            self._max_unpack_size(),  # type: ignore[no-untyped-call]
            message_id,
            data,
        ]
        return self.scripts["dispatch"](args=args, keys=[self.namespace], client=batch[0])


def rings(delay_ms: int | None) -> bool:
    """Whether an enqueue with this delay rings its queue's bell: not when the message is due only after the
    longest wait of an idle consumer (``doorbell.IDLE_S``) and a margin, since the delay queue's consumer looks
    by then anyway, and a consumer already holding delayed messages looks every poll interval. A live
    processor's 5–10 s delays, or test mode's long ones, so cost no wake-up of every worker per dispatcher batch."""
    return delay_ms is None or delay_ms < (doorbell.IDLE_S + RING_MARGIN_S) * 1000


def make_broker(redis_url: str, poll_ms: int = 100) -> Broker:
    """Build the broker and make it Dramatiq's global one, before any actor is declared."""
    broker = Broker(url=redis_url, namespace=NAMESPACE, heartbeat_timeout=15_000, poll_ms=poll_ms)
    broker.add_middleware(AsyncIO())
    broker.add_middleware(JobCounters(broker.client))
    dramatiq.set_broker(broker)
    return broker
