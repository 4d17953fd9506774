"""The API's /metrics: request latency measured in this process, and the system's figures read at scrape time.

Figures that live in the database or Redis (payments by status, queue depth and age, follower lag, quarantined
events, part restarts) are read when scraped, so every API process answers the same and nothing drifts.
With several API processes (API_WORKERS > 1) the in-process figures of all of them are added up through
PROMETHEUS_MULTIPROC_DIR.
"""

import os
from collections.abc import MutableMapping
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger import chain
from workers import jobs
from workers.broker import QUEUES

REQUEST_LATENCY = Histogram(
    "paygate_http_request_duration_seconds",
    "API request latency by route template, method and status",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


GROUP_STATEMENTS = Counter(
    "paygate_group_commit_statements", "Statements that carried the lone appends of requests (commands.grouping)"
)
GROUP_APPENDS = Counter("paygate_group_commit_appends", "Lone appends of requests those statements carried")


def grouped(appends: int) -> None:
    """One statement carried ``appends`` requests' appends."""
    GROUP_STATEMENTS.inc()
    GROUP_APPENDS.inc(appends)


#: Each series' child of ``REQUEST_LATENCY``, as ``labels`` returns it: that call checks and looks up its labels
#: anew each time, and cost more than the observation itself. As many as the histogram's own children.
_SERIES: dict[tuple[str, str, int], Any] = {}


def observe(scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
    route = scope.get("route")
    # The template (/api/v1/payments/{payment_id}), never the raw path: one series per route, not per id.
    template = getattr(route, "path", None) or "unmatched"
    key = (template, scope.get("method", ""), status)
    if (series := _SERIES.get(key)) is None:
        series = _SERIES[key] = REQUEST_LATENCY.labels(template, key[1], str(status))
    series.observe(seconds)


class _Snapshot(Collector):
    """Gauges from one scrape-time reading."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Any:
        return iter(self.families)


def _gauge(name: str, doc: str, labels: list[str], rows: list[tuple[Any, ...]]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=labels)
    for *values, figure in rows:
        g.add_metric([str(v) for v in values], float(figure or 0))
    return g


async def database_figures(conn: psycopg.AsyncConnection[Any]) -> list[GaugeMetricFamily]:
    async def rows(sql: str) -> list[tuple[Any, ...]]:
        cur = await conn.execute(sql)
        return list(await cur.fetchall())

    lag = await rows(
        """SELECT c.name, count(e.position),
                  coalesce(extract(epoch FROM now() - min(e.recorded_at)), 0)
           FROM checkpoints c LEFT JOIN events e ON (e.tx_id, e.position) > (c.tx_id, c.position)
           GROUP BY c.name"""
    )
    chained = await chain.lag(conn)
    quarantine = await rows("SELECT to_regclass('quarantined_events') IS NOT NULL")
    quarantined = await rows("SELECT count(*) FROM quarantined_events") if quarantine[0][0] else [(0,)]
    return [
        _gauge(
            "paygate_payments",
            "Payments by status (decided: success or failed)",
            ["status"],
            await rows("SELECT status, count(*) FROM payments GROUP BY status"),
        ),
        _gauge(
            "paygate_webhook_deliveries",
            "Webhook deliveries by status",
            ["status"],
            await rows("SELECT status, count(*) FROM webhook_logs GROUP BY status"),
        ),
        _gauge(
            "paygate_oldest_pending_age_seconds",
            "Age of the oldest work still owed: a pending payment, or a webhook attempt that is due",
            ["kind"],
            await rows(
                """SELECT 'payment', coalesce(extract(epoch FROM now() - min(created_at)), 0)
                   FROM payments WHERE status = 'pending'
                   UNION ALL
                   SELECT 'webhook', coalesce(extract(epoch FROM now() - min(next_retry_at)), 0)
                   FROM webhook_logs WHERE status = 'pending' AND next_retry_at <= now()"""
            ),
        ),
        _gauge("paygate_follower_lag_events", "Events a follower has yet to apply", ["follower"], [r[:2] for r in lag]),
        _gauge(
            "paygate_follower_lag_seconds",
            "Age of the oldest event a follower has yet to apply",
            ["follower"],
            [(r[0], r[2]) for r in lag],
        ),
        _gauge(
            "paygate_chain_lag_events",
            "Committed events the hash chain has yet to cover",
            [],
            [(chained["lag_events"],)],
        ),
        _gauge(
            "paygate_chain_lag_seconds",
            "Age of the oldest event the hash chain has yet to cover",
            [],
            [(chained["lag_seconds"],)],
        ),
        _gauge("paygate_chain_head", "chain_seq of the hash chain's last link", [], [(chained["head"],)]),
        _gauge("paygate_quarantined_events", "Events set aside because applying them failed", [], quarantined),
    ]


def redis_figures(client: Any) -> list[GaugeMetricFamily]:
    pipe = client.pipeline(transaction=False)
    for q in QUEUES:
        pipe.llen(f"{jobs.NAMESPACE}:{q}")
        pipe.llen(f"{jobs.NAMESPACE}:{q}.DQ")
    depths = pipe.execute()
    parts = jobs.part_states(client)
    return [
        _gauge(
            "paygate_queue_depth",
            "Messages waiting in the broker (ready, or delayed)",
            ["queue", "kind"],
            [(q, kind, depths[2 * i + j]) for i, q in enumerate(QUEUES) for j, kind in enumerate(("ready", "delayed"))],
        ),
        _gauge(
            "paygate_part_restarts",
            "Times the supervisor restarted a part",
            ["part"],
            [(name, s.get("restarts", 0)) for name, s in parts.items()],
        ),
        _gauge(
            "paygate_part_up",
            "1 while a part runs, 0 while it is restarting",
            ["part"],
            [(name, s.get("state") == "running") for name, s in parts.items()],
        ),
    ]


def render(snapshot: list[GaugeMetricFamily]) -> bytes:
    """This process's figures (or all API processes' together) followed by the scrape-time snapshot."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own = CollectorRegistry()
        multiprocess.MultiProcessCollector(own)  # type: ignore[no-untyped-call]
        head = generate_latest(own)
    else:
        from prometheus_client import REGISTRY

        head = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(_Snapshot(snapshot))
    return head + generate_latest(extra)
