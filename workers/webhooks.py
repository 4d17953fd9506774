"""The `webhooks` queue: POST each owed delivery, signed, and record the attempt against the stream's version.

A message names deliveries and the stream version each was enqueued for. The actor loads them in one query,
hands the ones still owed to this process's courier and returns; the courier POSTs from background tasks on
the worker's event loop with a bounded number in flight overall and per endpoint host, so a slow or dead
endpoint never holds up another merchant's deliveries. Each attempt is appended with the version read before
the POST: a duplicated message, a stale one or a second worker racing on the same attempt finds the stream
moved on and records nothing. A worker killed mid-POST records nothing either; the retry scheduler finds the
attempt still due and enqueues it again.
"""

import asyncio
import functools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog

import ledger
from commands import webhook
from commands.errors import InvalidTransition
from projections import webhook_logs
from workers import http, signing
from workers.runtime import Runtime

log = structlog.get_logger(__name__)

#: SPEC.md: an attempt that has no complete answer after this long has failed.
TIMEOUT_S = 5.0
#: Characters of a response body kept with the attempt.
EXCERPT_CHARS = 1000
USER_AGENT = "paygate-webhooks/0.1"


def retry_intervals(settings: Any) -> tuple[int, ...]:
    return webhook.RETRY_INTERVALS_TEST_S if settings.webhook_retry_intervals_test else webhook.RETRY_INTERVALS_S


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


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
        self._recorder: Recorder | None = None

    def client(self) -> http.Client:
        if self._client is None:
            self._client = http.Client(
                keep=self.settings.webhook_host_concurrency, excerpt_bytes=EXCERPT_CHARS * 4, user_agent=USER_AGENT
            )
        return self._client

    async def submit(self, runtime: Runtime, deliveries: list[tuple[str, int]]) -> None:
        """Start the attempts these (delivery, version) pairs name that are still owed; waits only while this
        process already holds ``webhook_backlog`` deliveries."""
        wanted = [(d, int(v)) for d, v in deliveries if (d, int(v)) not in self._busy]
        if not wanted:
            return
        async with (await runtime.pool()).connection() as conn:
            rows = {r["id"]: r for r in await webhook_logs.targets(conn, [d for d, _ in wanted])}
        soon = datetime.now(UTC) + timedelta(seconds=1)
        for key in wanted:
            row = rows.get(key[0])
            if row is None or (row["version"], row["status"]) != (key[1], "pending") or key in self._busy:
                continue  # a stale or duplicated message: this attempt was made, or the delivery moved on
            if row["next_retry_at"] is not None and row["next_retry_at"] > soon:
                continue  # not due yet: the scheduler enqueues it when it is
            await self._room.acquire()
            self._busy.add(key)
            task = asyncio.create_task(self._deliver(runtime, row))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._done, key))

    def _done(self, key: tuple[str, int], task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._busy.discard(key)
        self._room.release()

    async def _deliver(self, runtime: Runtime, row: dict[str, Any]) -> None:
        # The log row is written in the same transaction as the delivery's events, so the row at `version` is
        # the stream folded to `version`; appending with that expected version settles any race.
        delivery = webhook.Delivery(row["id"], row["merchant_id"], row["event"], row["body"])
        state = webhook.Pending(delivery, row["attempts"], stamp(row["next_retry_at"] or datetime.now(UTC)))
        try:
            outcome = await self._attempt(delivery, row["webhook_url"], row["webhook_secret"])
            if outcome is None:
                return  # deferred: its host is saturated; the scheduler re-drives it
            command = webhook.RecordAttempt(
                attempt=state.attempts + 1,
                occurred_at=stamp(datetime.now(UTC)),
                response_code=outcome.response_code,
                response_body=outcome.response_body,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
                retry_intervals_s=retry_intervals(self.settings),
            )
            if self._recorder is None:
                self._recorder = Recorder(runtime)
            await self._recorder.record(state, row["version"], command)
        except Exception:  # the attempt stays due in the database: the scheduler re-drives it
            log.exception("webhook.delivery_failed", delivery_id=delivery.delivery_id)

    async def _attempt(self, delivery: webhook.Delivery, url: str | None, secret: str | None) -> Outcome | None:
        if not url:
            return Outcome(None, "", "no webhook URL configured", 0)
        if secret is None:  # the merchant's data key was deleted: nothing may be signed for it any more
            return Outcome(None, "", "webhook secret no longer available", 0)
        host_name = urlsplit(url).netloc
        host = self._hosts.get(host_name) or self._hosts.setdefault(
            host_name, _Host(self.settings.webhook_host_concurrency)
        )
        if host.waiting >= self.settings.webhook_host_backlog:
            return None
        host.waiting += 1
        try:
            async with host.gate, self._slots:
                return await self.post(url, secret, delivery)
        finally:
            host.waiting -= 1
            if host.waiting == 0:
                self._hosts.pop(host_name, None)

    async def post(self, url: str, secret: str, delivery: webhook.Delivery) -> Outcome:
        """One signed POST of the delivery's fixed body; never raises for the endpoint's faults."""
        body = delivery.body.encode()
        headers = signing.headers(secret, delivery.delivery_id, int(time.time()), body)
        started = time.perf_counter()
        code, excerpt, error = None, "", None
        try:
            async with asyncio.timeout(TIMEOUT_S):
                code, answer = await self.client().post(url, body, headers)
            excerpt = answer.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        except TimeoutError:
            error = f"no answer within {TIMEOUT_S:g} s"
        except (http.HTTPError, OSError, UnicodeError) as exc:
            error = http.describe(exc)[:EXCERPT_CHARS]
        return Outcome(code, excerpt, error, round((time.perf_counter() - started) * 1000))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


class Recorder:
    """Appends attempts in batches: whatever finished while the last batch was written goes in one transaction.

    Each append still names its own stream and expected version, so one superseded attempt never holds up
    the others; a failed transaction leaves its attempts due, and the scheduler re-drives them.
    """

    def __init__(self, runtime: Runtime, writers: int = 2, batch: int = 200) -> None:
        self.runtime = runtime
        self.batch = batch
        self.queue: asyncio.Queue[tuple[webhook.Pending, int, webhook.RecordAttempt, asyncio.Future[None]]]
        self.queue = asyncio.Queue()
        self._writers = [asyncio.create_task(self._write_forever()) for _ in range(writers)]

    async def record(self, state: webhook.Pending, version: int, command: webhook.RecordAttempt) -> None:
        """Returns once the attempt is written (or found superseded)."""
        done = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((state, version, command, done))
        await done

    async def _write_forever(self) -> None:
        while True:
            items = [await self.queue.get()]
            while len(items) < self.batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            try:
                await self._write(items)
            except Exception:
                log.exception("webhook.record_failed", attempts=len(items))
            for *_, done in items:
                if not done.done():
                    done.set_result(None)

    async def _write(
        self, items: list[tuple[webhook.Pending, int, webhook.RecordAttempt, asyncio.Future[None]]]
    ) -> None:
        async with self.runtime.session(actor="webhooks") as session:
            # Pipeline mode sends BEGIN with the first append and the projection's writes with the next ones.
            async with session.conn.pipeline(), session.conn.transaction():
                for state, version, command, _ in items:
                    d = state.delivery
                    session.metadata = {
                        "actor": "webhooks",
                        "merchant_id": d.merchant_id,
                        "causation_id": d.delivery_id,
                    }
                    try:
                        await session.save(webhook.stream_id(d.delivery_id), webhook.decide(state, command), version)
                    except (ledger.ConcurrencyConflict, InvalidTransition):
                        log.info("webhook.attempt_superseded", delivery_id=d.delivery_id, version=version)


def courier(runtime: Runtime) -> Courier:
    """This process's courier, made on first use inside the worker's event loop."""
    found: Courier | None = runtime.resources.get("courier")
    if found is None:
        found = runtime.resources["courier"] = Courier(runtime.settings)
    return found


async def deliver_webhooks(runtime: Runtime, deliveries: list[tuple[str, int]]) -> None:
    """Attempt each (delivery id, stream version) whose stream is still at that version; returns once the
    attempts are under way."""
    await courier(runtime).submit(runtime, [(str(d), int(v)) for d, v in deliveries])
