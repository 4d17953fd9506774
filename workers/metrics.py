"""Prometheus metrics of the worker processes, and the small /metrics server each of them may run.

Figures the database or Redis hold (payments by status, queue depths, follower lag) are read at scrape time by
the API's /metrics instead; these are the in-process ones: what this process did and how long it took.
"""

import structlog
from prometheus_client import Counter, Histogram, start_http_server

log = structlog.get_logger(__name__)

PAYMENTS_DECIDED = Counter("paygate_payments_decided_total", "Payments this process decided", ["status"])
WEBHOOK_ATTEMPTS = Counter(
    "paygate_webhook_attempts_total", "Webhook POSTs by outcome (2xx, 4xx, 5xx, error)", ["outcome"]
)
WEBHOOK_LATENCY = Histogram(
    "paygate_webhook_latency_seconds",
    "Time from sending a webhook POST to its answer (or timeout)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def webhook_outcome(code: int | None) -> str:
    return "error" if code is None else f"{code // 100}xx"


def serve(port: int) -> None:
    """Expose this process's metrics on ``port`` (0: not at all)."""
    if port:
        start_http_server(port)
        log.info("metrics.serving", port=port)
