"""The `webhooks` queue: POST each owed delivery, signed, and record the attempt against the stream's version.

A message names deliveries and the stream version each was enqueued for. The actor loads them in one query,
hands the ones still owed to this process's courier and returns; the courier POSTs from background tasks on
the worker's event loop with a bounded number in flight overall and per endpoint host, so a slow or dead
endpoint never holds up another merchant's deliveries. Each attempt is claimed at the version read before the
POST (``workers.leases``), and its outcome appended at that version: a duplicated message, a stale one or a
second worker racing on the same attempt finds it claimed or the stream moved on, and sends and records
nothing. A worker killed mid-POST records nothing either; the retry scheduler finds the attempt still due
and, once its claim is stale, enqueues it again.
"""

import asyncio
import functools
import itertools
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog

from commands import targets, webhook
from commands.errors import InvalidTransition
from commands.handler import Saving
from commands.records import quick
from projections import webhook_logs
from projections.timefmt import micro as stamp
from workers import http, leases, metrics, signing
from workers.runtime import Runtime

log = structlog.get_logger(__name__)

#: SPEC.md: an attempt that has no complete answer after this long has failed.
TIMEOUT_S = 5.0
#: Characters of a response body kept with the attempt.
EXCERPT_CHARS = 1000
USER_AGENT = "paygate-webhooks/0.1"
#: The one error text of every attempt that got no HTTP answer (refused, reset, timed out, not HTTP).
NO_ANSWER = f"could not connect, or no complete answer within {TIMEOUT_S:g} s"
#: A delivery whose host already has its share of this worker waiting goes back on the queue for this long. The
#: retry scheduler's redrive would find it too, but only after ``webhook_redrive_s``: a burst to one merchant
#: would wait that long for its deliveries beyond the share.
DEFER_MS = 1000


def retry_intervals(settings: Any) -> tuple[int, ...]:
    return webhook.RETRY_INTERVALS_TEST_S if settings.webhook_retry_intervals_test else webhook.RETRY_INTERVALS_S


@quick
@dataclass(frozen=True)
class Outcome:
    """What one POST got."""

    response_code: int | None
    response_body: str
    error: str | None
    duration_ms: int


class _Host:
    """The in-flight gate of one endpoint host and how many deliveries wait on it."""

    def __init__(self, limit: int) -> None:
        self.gate = asyncio.Semaphore(limit)
        self.waiting = 0


class Courier:
    """Delivers in background tasks on the worker's event loop, bounded overall and per endpoint host."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._client: http.Client | None = None
        self._slots = asyncio.Semaphore(settings.webhook_concurrency)
        self._room = asyncio.Semaphore(settings.webhook_backlog)
        self._hosts: dict[str, _Host] = {}
        self._busy: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._batchers: dict[str, Batcher] = {}

    def client(self) -> http.Client:
        if self._client is None:
            self._client = http.Client(
                keep=self.settings.webhook_host_concurrency,
                excerpt_bytes=EXCERPT_CHARS * 4,
                user_agent=USER_AGENT,
                resolve=self._resolve,
            )
        return self._client

    async def submit(self, runtime: Runtime, deliveries: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Start the attempts these (delivery, version) pairs name that are still owed; waits only while this
        process already holds ``webhook_backlog`` deliveries. Returns the pairs deferred: owed, but their host
        already has ``webhook_host_backlog`` deliveries waiting here."""
        wanted = [(d, int(v)) for d, v in deliveries if (d, int(v)) not in self._busy]
        deferred: list[tuple[str, int]] = []
        if not wanted:
            return deferred
        async with (await runtime.pool()).connection() as conn:
            rows = {r["id"]: r for r in await webhook_logs.targets(conn, [d for d, _ in wanted])}
        soon = datetime.now(UTC) + timedelta(seconds=1)
        in_flight_since = datetime.now(UTC) - timedelta(seconds=self.settings.webhook_redrive_s)
        for key in wanted:
            row = rows.get(key[0])
            if row is None or (row["version"], row["status"]) != (key[1], "pending") or key in self._busy:
                continue  # a stale or duplicated message: this attempt was made, or the delivery moved on
            if row["next_retry_at"] is not None and row["next_retry_at"] > soon:
                continue  # not due yet: the scheduler enqueues it when it is
            if row["claimed_at"] is not None and row["claimed_at"] > in_flight_since:
                continue  # another worker's attempt is in flight
            host_name = urlsplit(row["webhook_url"] or "").netloc  # the URL posted to is the one its claim reads
            host = self._hosts.get(host_name) or self._hosts.setdefault(
                host_name, _Host(self.settings.webhook_host_concurrency)
            )
            if host.waiting >= self.settings.webhook_host_backlog:
                deferred.append(key)
                continue
            host.waiting += 1
            await self._room.acquire()
            self._busy.add(key)
            task = asyncio.create_task(self._deliver(runtime, row, host))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._done, key, host_name))
        return deferred

    def _done(self, key: tuple[str, int], host_name: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._busy.discard(key)
        self._room.release()
        host = self._hosts[host_name]
        host.waiting -= 1
        if host.waiting == 0:
            self._hosts.pop(host_name, None)

    async def _deliver(self, runtime: Runtime, row: dict[str, Any], host: _Host) -> None:
        # The log row is written in the same transaction as the delivery's events, so the row at `version` is
        # the stream folded to `version`; appending with that expected version settles any race.
        delivery = webhook.Delivery(row["id"], row["merchant_id"], row["event"], row["body"])
        due_at = stamp(row["next_retry_at"] or datetime.now(UTC))
        state, version = webhook.Pending(delivery, row["attempts"], due_at), row["version"]
        try:
            outcome = await self._attempt(runtime, delivery, version, host)
            if outcome is None:
                return  # no longer owed, or in flight elsewhere
            command = webhook.RecordAttempt(
                attempt=state.attempts + 1,
                occurred_at=stamp(datetime.now(UTC)),
                response_code=outcome.response_code,
                response_body=outcome.response_body,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
                retry_intervals_s=retry_intervals(self.settings),
            )
            await self.batcher(runtime, "record").submit((state, version, command))
        except Exception:  # the attempt stays due in the database: the scheduler re-drives it
            log.exception("webhook.delivery_failed", delivery_id=delivery.delivery_id)

    def batcher(self, runtime: Runtime, kind: str) -> "Batcher":
        """The writer of claims ("claim") or of outcomes ("record"): apart, so an outcome never waits behind
        claims being written (until it commits, a POST that arrived is at risk of being sent again)."""
        if kind not in self._batchers:
            write = functools.partial(self._claim if kind == "claim" else _record, runtime)
            self._batchers[kind] = Batcher(write, kind)
        return self._batchers[kind]

    async def _attempt(self, runtime: Runtime, delivery: webhook.Delivery, version: int, host: _Host) -> Outcome | None:
        """Claim the attempt at ``version`` and POST it: what the POST got, or None when it is not owed now
        (delivered, moved on, in flight elsewhere)."""
        async with host.gate, self._slots:
            claimed = await self.batcher(runtime, "claim").submit((delivery.delivery_id, version))
            if claimed is None:
                return None
            url, secret = claimed
            if not url:
                return Outcome(None, "", "no webhook URL configured", 0)
            if secret is None:  # the merchant's data key was deleted: nothing may be signed for it any more
                return Outcome(None, "", "webhook secret no longer available", 0)
            return await self.post(url, secret, delivery)

    async def _claim(self, runtime: Runtime, attempts: list[tuple[str, int]]) -> list[Any]:
        """Each (delivery, version)'s URL and secret if this process claimed it, else None; one statement a round
        (a stale message and a fresh one may name the same delivery)."""
        claimed: list[Any] = [None] * len(attempts)
        async with (await runtime.pool()).connection() as conn:
            for now in _rounds([delivery_id for delivery_id, _ in attempts]):
                at, in_flight_s = datetime.now(UTC), float(self.settings.webhook_redrive_s)
                found = await leases.claim(conn, [attempts[i] for i in now], at, in_flight_s)
                for i in now:
                    claimed[i] = found.get(attempts[i][0])
        return claimed

    async def _resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, each checked against the address policy; the client connects to these."""
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in found]
        return targets.check_addresses(host, addresses, allow_private=self.settings.allow_private_networks)

    async def post(self, url: str, secret: str, delivery: webhook.Delivery) -> Outcome:
        """One signed POST of the delivery's fixed body; never raises for the endpoint's faults.

        Every failure without an HTTP answer gets the one text ``NO_ANSWER``, so the log never tells a closed
        port from a filtered, resetting or hanging one; a refused destination is never contacted at all.
        """
        body = delivery.body.encode()
        headers = signing.headers(secret, delivery.delivery_id, int(time.time()), body)
        started = time.perf_counter()
        code, excerpt, error = None, "", None
        try:
            targets.check_url(
                url,
                allow_private=self.settings.allow_private_networks,
                require_https=self.settings.paygate_env == "production",
            )
            async with asyncio.timeout(TIMEOUT_S):
                code, answer = await self.client().post(url, body, headers)
            excerpt = answer.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        except targets.Refused as exc:
            error = f"refused: {exc}"[:EXCERPT_CHARS]
        except (TimeoutError, http.HTTPError, OSError, UnicodeError):
            error = NO_ANSWER
        metrics.WEBHOOK_LATENCY.observe(time.perf_counter() - started)
        metrics.WEBHOOK_ATTEMPTS.labels(metrics.webhook_outcome(code)).inc()
        return Outcome(code, excerpt, error, round((time.perf_counter() - started) * 1000))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


class Batcher:
    """Writes what callers submit in batches: whatever came while the last batch was written goes in the next
    ``write``, at most ``batch`` items, on ``writers`` tasks. Each caller gets its item's result; a failed write
    answers None to each of its items (their attempts stay due, and the scheduler re-drives them)."""

    def __init__(
        self, write: Callable[[list[Any]], Awaitable[list[Any]]], what: str, writers: int = 2, batch: int = 200
    ) -> None:
        self.write = write
        self.what = what
        self.batch = batch
        self.queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] = asyncio.Queue()
        self._writers = [asyncio.create_task(self._write_forever()) for _ in range(writers)]

    async def submit(self, item: Any) -> Any:
        done = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((item, done))
        return await done

    async def _write_forever(self) -> None:
        while True:
            items = [await self.queue.get()]
            while len(items) < self.batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            results: list[Any] = []
            try:
                results = await self.write([item for item, _ in items])
            except Exception:
                log.exception(f"webhook.{self.what}_failed", attempts=len(items))
            for (_, done), result in itertools.zip_longest(items, results):
                if not done.done():
                    done.set_result(result)


async def _record(runtime: Runtime, items: list[tuple[webhook.Pending, int, webhook.RecordAttempt]]) -> list[Any]:
    """Append each attempt's outcome at the version it was claimed at, one statement a round (``Session.save_batch``,
    its webhook log rows with it); a round appends to each delivery once. Each append still names its own stream
    and expected version, so one superseded attempt never holds up the others."""
    async with runtime.session(actor="webhooks") as session:
        for now in _rounds([state.delivery.delivery_id for state, _, _ in items]):
            batch: dict[str, tuple[int, Saving]] = {}
            for i in now:
                state, version, command = items[i]
                d = state.delivery
                stream = webhook.stream_id(d.delivery_id)
                try:
                    events = webhook.decide(state, command)
                except InvalidTransition:
                    log.info("webhook.attempt_superseded", delivery_id=d.delivery_id, version=version)
                    continue
                if events:
                    metadata = {"actor": "webhooks", "merchant_id": d.merchant_id, "causation_id": d.delivery_id}
                    batch[stream] = (i, Saving(stream, events, version, metadata))
            saved = await session.save_batch([saving for _, saving in batch.values()])
            for stream, (i, _) in batch.items():
                if stream not in saved:
                    log.info("webhook.attempt_superseded", delivery_id=items[i][0].delivery.delivery_id)
    return [None] * len(items)


def _rounds(keys: list[str]) -> Iterator[list[int]]:
    """The indices of ``keys`` in rounds, in order, each key at most once a round: a statement appends to (or
    claims) each delivery once."""
    todo = list(range(len(keys)))
    while todo:
        seen: set[str] = set()
        now: list[int] = []
        later: list[int] = []
        for i in todo:
            (later if keys[i] in seen else now).append(i)
            seen.add(keys[i])
        yield now
        todo = later


def courier(runtime: Runtime) -> Courier:
    """This process's courier, made on first use inside the worker's event loop."""
    found: Courier | None = runtime.resources.get("courier")
    if found is None:
        found = runtime.resources["courier"] = Courier(runtime.settings)
    return found


async def deliver_webhooks(runtime: Runtime, deliveries: list[tuple[str, int]]) -> None:
    """Attempt each (delivery id, stream version) whose stream is still at that version; returns once the
    attempts are under way."""
    deferred = await courier(runtime).submit(runtime, [(str(d), int(v)) for d, v in deliveries])
    if deferred:
        again = runtime.actors["deliver_webhooks"]
        await asyncio.to_thread(again.send_with_options, args=(deferred,), delay=DEFER_MS)
