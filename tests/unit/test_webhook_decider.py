"""The webhook delivery aggregate: scheduled once, attempted at most five times on a fixed schedule, retried
on demand; an attempt that is not the next one is refused."""

import functools

import pytest
from scenario import given

from commands import webhook
from commands.errors import InvalidTransition

ID = "0fa32dec-1cb1-52da-8faa-0ada325439b6"
MERCHANT = "550e8400-e29b-41d4-a716-446655440000"
BODY = '{"event":"payment.success","timestamp":1705314660,"data":{"payment":{"id":"pay_x"}}}'
AT = "2030-06-15T10:00:00.000000Z"
SCHEDULE = webhook.ScheduleWebhook(ID, MERCHANT, "payment.success", BODY, AT, "9f1c2b54-5d43-4c21-9f0e-3c1c0d7b2a10")
SCHEDULED = webhook.WebhookScheduled(ID, MERCHANT, "payment.success", BODY, "9f1c2b54-5d43-4c21-9f0e-3c1c0d7b2a10", AT)


def attempt(
    n: int, code: int | None, at: str = AT, intervals: tuple[int, ...] = webhook.RETRY_INTERVALS_S
) -> webhook.RecordAttempt:
    return webhook.RecordAttempt(n, at, code, "body", None if code else "ConnectError", 12, intervals)


def attempted(n: int, code: int | None, next_retry_at: str | None, at: str = AT) -> webhook.WebhookAttempted:
    return webhook.WebhookAttempted(ID, n, at, code, "body", None if code else "ConnectError", 12, next_retry_at)


def delivered(n: int, code: int, at: str = AT) -> webhook.WebhookDelivered:
    return webhook.WebhookDelivered(ID, n, at, code, "body", 12)


def failed(n: int, code: int | None) -> webhook.WebhookFailed:
    return webhook.WebhookFailed(ID, n, AT, code, "body", None if code else "ConnectError", 12)


def failures(n: int) -> list[webhook.WebhookAttempted]:
    return [attempted(i, 500, "x") for i in range(1, n + 1)]


def test_a_delivery_is_scheduled_once_whatever_the_redispatches() -> None:
    given(webhook).when(SCHEDULE).then(SCHEDULED)
    given(webhook, SCHEDULED).when(SCHEDULE).then()


def test_a_2xx_answer_delivers_in_one_event_that_keeps_what_the_attempt_got() -> None:
    given(webhook, SCHEDULED).when(attempt(1, 204)).then(delivered(1, 204))


@pytest.mark.parametrize(
    ("n", "next_retry_at"),
    [
        (1, "2030-06-15T10:01:00.000000Z"),
        (2, "2030-06-15T10:05:00.000000Z"),
        (3, "2030-06-15T10:30:00.000000Z"),
        (4, "2030-06-15T12:00:00.000000Z"),
    ],
)
def test_a_failed_attempt_is_retried_1_5_30_and_120_minutes_later(n: int, next_retry_at: str) -> None:
    given(webhook, SCHEDULED, *failures(n - 1)).when(attempt(n, 500)).then(attempted(n, 500, next_retry_at))


def test_test_mode_intervals_are_5_10_15_and_20_seconds() -> None:
    got = [
        given(webhook, SCHEDULED, *failures(n - 1)).when(attempt(n, None, intervals=(5, 10, 15, 20))).decided()[0]
        for n in range(1, 5)
    ]
    assert [e.next_retry_at for e in got] == [
        "2030-06-15T10:00:05.000000Z",
        "2030-06-15T10:00:10.000000Z",
        "2030-06-15T10:00:15.000000Z",
        "2030-06-15T10:00:20.000000Z",
    ]


@pytest.mark.parametrize("code", [None, 503])
def test_the_fifth_failure_fails_the_delivery_in_one_event_that_keeps_what_the_attempt_got(code: int | None) -> None:
    given(webhook, SCHEDULED, *failures(4)).when(attempt(5, code)).then(failed(5, code))


@pytest.mark.parametrize("code", [None, 199, 301, 302, 400, 500])
def test_anything_but_a_2xx_answer_is_a_failure(code: int | None) -> None:
    assert given(webhook, SCHEDULED).when(attempt(1, code)).decided() == [
        attempted(1, code, "2030-06-15T10:01:00.000000Z")
    ]


def test_an_attempt_that_is_not_the_next_one_is_refused() -> None:
    given(webhook, SCHEDULED, *failures(2)).when(attempt(2, 200)).raises(InvalidTransition, "stale")
    given(webhook, SCHEDULED).when(attempt(3, 200)).raises(InvalidTransition, "stale")


def test_an_attempt_after_the_outcome_changes_nothing() -> None:
    given(webhook, SCHEDULED, delivered(1, 200)).when(attempt(2, 500)).then()
    given(webhook, SCHEDULED, *failures(4), failed(5, 500)).when(attempt(6, 200)).then()


def test_attempting_or_retrying_an_unknown_delivery_is_refused() -> None:
    given(webhook).when(attempt(1, 200)).raises(InvalidTransition)
    given(webhook).when(webhook.RequestRetry(AT)).raises(InvalidTransition)


def test_a_manual_retry_starts_over_from_attempt_one() -> None:
    gave_up = [*failures(4), failed(5, 500)]
    later = "2030-06-16T09:00:00.000000Z"
    given(webhook, SCHEDULED, *gave_up).when(webhook.RequestRetry(later)).then(webhook.WebhookRetryRequested(ID, later))
    retried = [*gave_up, webhook.WebhookRetryRequested(ID, later)]
    state = given(webhook, SCHEDULED, *retried)
    state.when(attempt(1, 200, later)).then(delivered(1, 200, later))
    state.when(attempt(6, 200, later)).raises(InvalidTransition)


def test_the_state_keeps_the_bytes_and_the_due_time() -> None:
    state = functools.reduce(
        webhook.evolve, [SCHEDULED, attempted(1, 500, "2030-06-15T10:01:00Z")], webhook.initial_state
    )
    assert state == webhook.Pending(webhook.Delivery(ID, MERCHANT, "payment.success", BODY), 1, "2030-06-15T10:01:00Z")
    assert not webhook.is_terminal(state)
    assert webhook.is_terminal(webhook.evolve(state, failed(5, 500)))
    assert webhook.is_terminal(webhook.evolve(state, delivered(2, 200)))


STARTED = webhook.WebhookAttemptStarted(ID, 1, AT)


def test_a_start_in_a_log_written_before_claims_were_leases_changes_no_decision() -> None:
    """Old logs hold ``webhook.attempt_started.v1`` events; replayed, they only take a version."""
    scheduled = webhook.evolve(webhook.initial_state, SCHEDULED)
    assert webhook.evolve(scheduled, STARTED) == scheduled
    after, retry = "2030-06-15T10:01:00.000000Z", "2030-06-15T10:02:00.000000Z"
    given(webhook, SCHEDULED, STARTED).when(attempt(1, 500, after)).then(attempted(1, 500, retry, after))
    given(webhook, SCHEDULED, STARTED, attempted(1, 500, retry, after)).when(attempt(1, 500, after)).raises(
        InvalidTransition
    )


def test_outcomes_in_a_log_written_before_each_attempt_was_one_event_decide_the_same() -> None:
    """Old logs hold every attempt as ``webhook.attempted.v1``, the delivering or last one followed by
    ``webhook.delivered.v1`` or ``webhook.failed.v1``."""
    old_delivered = [SCHEDULED, attempted(1, 200, None), webhook.WebhookDeliveredV1(ID, 1, AT)]
    state = functools.reduce(webhook.evolve, old_delivered, webhook.initial_state)
    assert state == webhook.Delivered(webhook.Delivery(ID, MERCHANT, "payment.success", BODY), 1)
    given(webhook, *old_delivered).when(attempt(2, 500)).then()
    old_failed = [*failures(4), attempted(5, 500, None), webhook.WebhookFailedV1(ID, 5, AT)]
    given(webhook, SCHEDULED, *old_failed).when(attempt(6, 200)).then()
    later = "2030-06-16T09:00:00.000000Z"
    retried = given(webhook, SCHEDULED, *old_failed, webhook.WebhookRetryRequested(ID, later))
    retried.when(attempt(1, 200, later)).then(delivered(1, 200, later))
