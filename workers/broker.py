"""The Dramatiq broker on Redis, shared by the API (for queue figures), the dispatcher and the workers."""

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO

from workers.jobs import JobCounters

#: Prefix of every Redis key the broker writes.
NAMESPACE = "paygate"
QUEUES = ("payments", "refunds", "webhooks")


def make_broker(redis_url: str) -> RedisBroker:
    """Build the broker and make it Dramatiq's global one, before any actor is declared."""
    broker = RedisBroker(url=redis_url, namespace=NAMESPACE, heartbeat_timeout=15_000)  # type: ignore[no-untyped-call]
    broker.add_middleware(AsyncIO())
    broker.add_middleware(JobCounters(broker.client))
    dramatiq.set_broker(broker)
    return broker
