"""Pure parts of the money features: the posting rules, a payment's refund status, request fingerprints."""

import uuid
from datetime import UTC, datetime

import pytest

import ledger
from api.idempotency import Fingerprint
from projections import balances, bodies

MERCHANT = "550e8400-e29b-41d4-a716-446655440000"


def recorded(type_: str, **data: object) -> ledger.Recorded:
    return ledger.Recorded(1, 1, uuid.uuid4(), "payment-pay_A", 1, type_, dict(data), {}, datetime.now(UTC))


SUCCEEDED = recorded("payment.succeeded.v1", payment_id="pay_A", merchant_id=MERCHANT, amount=500, currency="INR")
PROCESSED = recorded(
    "refund.processed.v1", refund_id="rfnd_A", payment_id="pay_A", merchant_id=MERCHANT, amount=200, currency="INR"
)


class TestPostingRules:
    def test_a_successful_payment_moves_its_amount_from_the_acquirer_to_the_merchant(self) -> None:
        (entry,) = balances.entries(SUCCEEDED)
        assert entry.lines == (
            balances.Line("acquirer-receivable", debit=500),
            balances.Line(f"merchant-payable:{MERCHANT}", credit=500),
        )

    def test_a_processed_refund_moves_its_amount_back_through_refund_clearing(self) -> None:
        payable, clearing = balances.entries(PROCESSED)
        assert payable.lines == (
            balances.Line(f"merchant-payable:{MERCHANT}", debit=200),
            balances.Line("refund-clearing", credit=200),
        )
        assert clearing.lines == (
            balances.Line("refund-clearing", debit=200),
            balances.Line("acquirer-receivable", credit=200),
        )

    @pytest.mark.parametrize("event", [SUCCEEDED, PROCESSED], ids=["payment", "refund"])
    def test_every_entry_balances_and_has_an_id_stable_per_event_and_leg(self, event: ledger.Recorded) -> None:
        entries = balances.entries(event)
        for entry in entries:
            assert sum(line.debit for line in entry.lines) == sum(line.credit for line in entry.lines)
            assert entry.id(event.event_id) == entry.id(event.event_id)
        assert len({e.id(event.event_id) for e in entries}) == len(entries)

    @pytest.mark.parametrize(
        "type_", ["payment.created.v1", "payment.failed.v1", "payment.captured.v1", "refund.requested.v1"]
    )
    def test_events_that_move_no_money_post_nothing(self, type_: str) -> None:
        assert balances.entries(recorded(type_, merchant_id=MERCHANT, amount=500)) == []


class TestRefundStatus:
    @pytest.mark.parametrize(("refunded", "status"), [(0, None), (1, "partial"), (49999, "partial"), (50000, "full")])
    def test_the_refund_status_follows_the_refunded_amount(self, refunded: int, status: str | None) -> None:
        assert bodies.refund_status(50000, refunded) == status


class TestFingerprint:
    def test_the_same_json_written_differently_has_one_fingerprint(self) -> None:
        a = Fingerprint.of("post", "/api/v1/orders", b'{"amount": 100, "notes": {"b": 1, "a": 2}}')
        b = Fingerprint.of("POST", "/api/v1/orders", b'{"notes":{"a":2,"b":1},"amount":100}')
        assert a == b

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("PUT", "/api/v1/orders", b'{"amount":100}'),
            ("POST", "/api/v1/payments", b'{"amount":100}'),
            ("POST", "/api/v1/orders", b'{"amount":101}'),
        ],
    )
    def test_another_method_path_or_body_is_another_request(self, method: str, path: str, body: bytes) -> None:
        assert Fingerprint.of(method, path, body) != Fingerprint.of("POST", "/api/v1/orders", b'{"amount":100}')

    def test_a_body_that_is_not_json_is_compared_as_bytes(self) -> None:
        assert Fingerprint.of("POST", "/x", b"{") == Fingerprint.of("POST", "/x", b"{")
        assert Fingerprint.of("POST", "/x", b"{") != Fingerprint.of("POST", "/x", b"[")
