"""The webhook delivery aggregate: scheduled once with fixed bytes, attempted at most five times, retried on demand."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import assert_never

from commands.errors import InvalidTransition
from commands.records import quick

#: The default subscription of a merchant that never chose its events.
DEFAULT_EVENTS = (
    "payment.created",
    "payment.pending",
    "payment.success",
    "payment.failed",
    "refund.created",
    "refund.processed",
)
#: The events merchants may subscribe to (SPEC.md): Razorpay's capture and paid order are opt-in, so merchants
#: subscribed by default receive what they always did.
EVENTS = (*DEFAULT_EVENTS, "payment.captured", "order.paid")
#: What "send a test event" delivers; it needs no subscription.
TEST_EVENT = "webhook.test"
#: Stored event type → the public events it produces.
SOURCES: dict[str, tuple[str, ...]] = {
    "payment.created.v1": ("payment.created", "payment.pending"),
    "payment.succeeded.v1": ("payment.success", "order.paid"),
    "payment.captured.v1": ("payment.captured",),
    "payment.failed.v1": ("payment.failed",),
    "refund.requested.v1": ("refund.created",),
    "refund.processed.v1": ("refund.processed",),
}
#: Attempts per delivery; after the last one fails the delivery is failed.
MAX_ATTEMPTS = 5
#: Seconds from a failed attempt to the next one (SPEC.md), and their test-mode counterparts.
RETRY_INTERVALS_S = (60, 300, 1800, 7200)
RETRY_INTERVALS_TEST_S = (5, 10, 15, 20)

# ---------------------------------------------------------------- commands


@quick
@dataclass(frozen=True)
class ScheduleWebhook:
    """Owe ``merchant_id`` one delivery of ``body`` (the exact bytes every attempt sends)."""

    delivery_id: str
    merchant_id: str
    event: str
    body: str
    occurred_at: str
    source_event_id: str | None = None


@quick
@dataclass(frozen=True)
class RecordAttempt:
    """What one POST got: a status code (None when no response came) and a bounded excerpt of the answer."""

    attempt: int
    occurred_at: str
    response_code: int | None
    response_body: str
    error: str | None
    duration_ms: int
    retry_intervals_s: tuple[int, ...] = RETRY_INTERVALS_S


@quick
@dataclass(frozen=True)
class RequestRetry:
    occurred_at: str


Command = ScheduleWebhook | RecordAttempt | RequestRetry

# ---------------------------------------------------------------- events


@quick
@dataclass(frozen=True)
class WebhookScheduled:
    TYPE = "webhook.scheduled.v1"
    delivery_id: str
    merchant_id: str
    event: str
    body: str
    source_event_id: str | None
    scheduled_at: str


@quick
@dataclass(frozen=True)
class WebhookAttemptStarted:
    """An attempt put in flight, as logs written before attempts in flight became leases (workers/leases.py) hold
    it; nothing decides it any more."""

    TYPE = "webhook.attempt_started.v1"
    delivery_id: str
    attempt: int
    started_at: str


@quick
@dataclass(frozen=True)
class WebhookAttempted:
    """An attempt that failed, made again at ``next_retry_at``. Logs written before each attempt was one event hold
    one for every attempt, the delivering or last one followed by ``webhook.delivered.v1`` or ``webhook.failed.v1``."""

    TYPE = "webhook.attempted.v1"
    delivery_id: str
    attempt: int
    attempted_at: str
    response_code: int | None
    response_body: str
    error: str | None
    duration_ms: int
    next_retry_at: str | None


@quick
@dataclass(frozen=True)
class WebhookDelivered:
    """The attempt that got a 2xx answer: the delivery's outcome and what the attempt got, in one event."""

    TYPE = "webhook.delivered.v2"
    delivery_id: str
    attempt: int
    delivered_at: str
    response_code: int
    response_body: str
    duration_ms: int


@quick
@dataclass(frozen=True)
class WebhookFailed:
    """The last attempt, failed: the delivery's outcome and what the attempt got, in one event."""

    TYPE = "webhook.failed.v2"
    delivery_id: str
    attempt: int
    failed_at: str
    response_code: int | None
    response_body: str
    error: str | None
    duration_ms: int


@quick
@dataclass(frozen=True)
class WebhookDeliveredV1:
    """A delivery's outcome as logs written before the outcome carried its attempt hold it, after that attempt's
    ``webhook.attempted.v1``; nothing decides it any more."""

    TYPE = "webhook.delivered.v1"
    delivery_id: str
    attempts: int
    delivered_at: str


@quick
@dataclass(frozen=True)
class WebhookFailedV1:
    """As ``WebhookDeliveredV1``, for a delivery whose last attempt failed."""

    TYPE = "webhook.failed.v1"
    delivery_id: str
    attempts: int
    failed_at: str


@quick
@dataclass(frozen=True)
class WebhookRetryRequested:
    TYPE = "webhook.retry_requested.v1"
    delivery_id: str
    requested_at: str


Event = (
    WebhookScheduled
    | WebhookAttemptStarted
    | WebhookAttempted
    | WebhookDelivered
    | WebhookFailed
    | WebhookDeliveredV1
    | WebhookFailedV1
    | WebhookRetryRequested
)

# ---------------------------------------------------------------- states


@quick
@dataclass(frozen=True)
class Delivery:
    """What never changes about a delivery."""

    delivery_id: str
    merchant_id: str
    event: str
    body: str


@quick
@dataclass(frozen=True)
class NoDelivery:
    pass


@quick
@dataclass(frozen=True)
class Pending:
    delivery: Delivery
    attempts: int
    due_at: str


@quick
@dataclass(frozen=True)
class Delivered:
    delivery: Delivery
    attempts: int


@quick
@dataclass(frozen=True)
class Failed:
    delivery: Delivery
    attempts: int


State = NoDelivery | Pending | Delivered | Failed
initial_state: State = NoDelivery()


def stream_id(delivery_id: str) -> str:
    return f"webhook-{delivery_id}"


def _parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def _later(at: str, seconds: float) -> str:
    when = _parse(at) + timedelta(seconds=seconds)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _attempted(p: Pending, c: RecordAttempt) -> list[Event]:
    """One event an attempt, named for what it leaves the delivery: delivered, failed, or due again."""
    if c.attempt != p.attempts + 1:
        raise InvalidTransition(f"attempt {c.attempt} is stale: {p.attempts} recorded")
    d, at = p.delivery.delivery_id, c.occurred_at
    if c.response_code is not None and 200 <= c.response_code < 300:  # any 2xx answer is a delivery
        return [WebhookDelivered(d, c.attempt, at, c.response_code, c.response_body, c.duration_ms)]
    if c.attempt >= MAX_ATTEMPTS:
        return [WebhookFailed(d, c.attempt, at, c.response_code, c.response_body, c.error, c.duration_ms)]
    retry_at = _later(at, c.retry_intervals_s[c.attempt - 1])
    return [WebhookAttempted(d, c.attempt, at, c.response_code, c.response_body, c.error, c.duration_ms, retry_at)]


def decide(state: State, command: Command) -> list[Event]:
    """Raises InvalidTransition for an attempt that is not the next one, or for an unknown delivery."""
    match command:
        case ScheduleWebhook() as c:
            if not isinstance(state, NoDelivery):
                return []  # scheduled already: a redispatched event owes nothing more
            return [WebhookScheduled(c.delivery_id, c.merchant_id, c.event, c.body, c.source_event_id, c.occurred_at)]
        case RecordAttempt() as c:
            if isinstance(state, NoDelivery):
                raise InvalidTransition("webhook delivery does not exist")
            if not isinstance(state, Pending):
                return []  # a duplicate attempt after the outcome: the outcome stands
            return _attempted(state, c)
        case RequestRetry() as c:
            if isinstance(state, NoDelivery):
                raise InvalidTransition("webhook delivery does not exist")
            return [WebhookRetryRequested(state.delivery.delivery_id, c.occurred_at)]
        case _:
            assert_never(command)


def evolve(state: State, event: Event) -> State:
    match event:
        case WebhookScheduled() as e:
            return Pending(Delivery(e.delivery_id, e.merchant_id, e.event, e.body), 0, e.scheduled_at)
        case WebhookAttemptStarted():
            return state
        case WebhookAttempted() as e:
            if isinstance(state, Pending):
                return Pending(state.delivery, e.attempt, e.next_retry_at or state.due_at)
            return state
        case WebhookDelivered(attempt=n) | WebhookDeliveredV1(attempts=n):
            return Delivered(state.delivery, n) if isinstance(state, Pending) else state
        case WebhookFailed(attempt=n) | WebhookFailedV1(attempts=n):
            return Failed(state.delivery, n) if isinstance(state, Pending) else state
        case WebhookRetryRequested() as e:
            return state if isinstance(state, NoDelivery) else Pending(state.delivery, 0, e.requested_at)
        case _:
            assert_never(event)


def is_terminal(state: State) -> bool:
    return isinstance(state, Delivered | Failed)
