"""Actor declarations: plain async functions bound to a broker and a runtime, with no import-time globals."""

from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
import structlog

from commands.errors import DomainError
from workers import payments, refunds, webhooks
from workers.runtime import Runtime

Job = Callable[..., Awaitable[None]]

#: (actor name, queue, function): the one list of jobs the workers run.
JOBS: tuple[tuple[str, str, Job], ...] = (
    ("process_payment", "payments", payments.process_payment),
    ("process_payments", "payments", payments.process_payments),
    ("process_refund", "refunds", refunds.process_refund),
    ("deliver_webhooks", "webhooks", webhooks.deliver_webhooks),
)


def _bind(fn: Job, runtime: Runtime) -> Callable[..., Awaitable[None]]:
    async def job(*args: Any, log_ctx: dict[str, Any] | None = None) -> None:
        # Each job runs as a task of its own, so the ids bound here (the request, merchant and payment the job
        # came from, as the dispatcher read them off the event) stay on this job's log lines only.
        structlog.contextvars.bind_contextvars(job=fn.__name__, **(log_ctx or {}))
        await fn(runtime, *args)

    job.__name__ = job.__qualname__ = fn.__name__
    return job


def declare(broker: dramatiq.Broker, runtime: Runtime) -> dict[str, dramatiq.Actor[Any, Any]]:
    """Bind every job to ``broker``; domain errors are final and never retried."""
    runtime.actors = {
        name: dramatiq.Actor(
            _bind(fn, runtime),
            broker=broker,
            actor_name=name,
            queue_name=queue,
            priority=0,
            options={"max_retries": 20, "min_backoff": 500, "max_backoff": 30_000, "throws": (DomainError,)},
        )
        for name, queue, fn in JOBS
    }
    return runtime.actors
