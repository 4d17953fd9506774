"""The Dramatiq broker on Redis, shared by the API (for queue figures), the dispatcher and the workers."""

from functools import cached_property
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO

from workers.doorbell import Doorbell, WakingConsumer, channel
from workers.jobs import JobCounters

#: Prefix of every Redis key the broker writes.
NAMESPACE = "paygate"
QUEUES = ("payments", "refunds", "webhooks")


class Broker(RedisBroker):
    """Dramatiq's Redis broker, whose enqueues ring the doorbell of idle consumers (workers.doorbell).

    A consumer with work in hand polls its queue at least every ``poll_ms``, whatever timeout the worker asks
    for: the worker's own timeout only sets how often its idle threads look up (see ``processes.worker``).
    """

    def __init__(self, *, poll_ms: int = 100, **options: Any) -> None:
        super().__init__(**options)  # type: ignore[no-untyped-call]
        self.poll_ms = poll_ms
        self.channel = channel(self.client, self.namespace)

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> WakingConsumer:
        return WakingConsumer(self, queue_name, prefetch, min(timeout, self.poll_ms))

    @cached_property
    def doorbell(self) -> Doorbell:
        return Doorbell(self.client, self.channel)

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> dramatiq.Message[Any]:
        sent: dramatiq.Message[Any] = super().enqueue(message, delay=delay)
        self.client.publish(self.channel, sent.queue_name)  # sent to the delay queue when delayed
        return sent


def make_broker(redis_url: str, poll_ms: int = 100) -> RedisBroker:
    """Build the broker and make it Dramatiq's global one, before any actor is declared."""
    broker = Broker(url=redis_url, namespace=NAMESPACE, heartbeat_timeout=15_000, poll_ms=poll_ms)
    broker.add_middleware(AsyncIO())
    broker.add_middleware(JobCounters(broker.client))
    dramatiq.set_broker(broker)
    return broker
