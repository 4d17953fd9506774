"""An event a projection or the dispatcher cannot handle is quarantined: the gateway stays up, every other
follower goes on, and ``paygate quarantine retry`` applies it once the cause is fixed.

The original repro (about 1,000 paid orders of 9007199254740991 overflowing a bigint sum, after which the
projector crash-looped for good) is cut short here: the test puts the sum of the old bigint column within
reach of its top, as ~1,023 such payments would have, and pays two more through the real processes.
"""

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from gatekit import AUTH, ROOT, decided, new_order, new_payment, poll, start_gateway

from paygate.database import schema_sql
from paygate.settings import TEST_MERCHANT_ID

pytestmark = pytest.mark.slow
BIG = 2**53 - 1
TOP = 2**63 - 1


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any, private_redis: Any) -> Iterator[Any]:
    """A whole gateway of its own whose order cap is raised to the largest amount JSON keeps exact."""
    url = fresh_database()
    gw = start_gateway(tmp_path_factory.mktemp("quarantine"), url, private_redis(), MAX_ORDER_AMOUNT=str(BIG))
    gw.database_url = url
    yield gw
    gw.close()


def cli(gw: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paygate", "quarantine", *args],
        env=gw.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def quarantined(gw: Any) -> list[dict[str, Any]]:
    done = cli(gw, "list")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def stats(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT total_count, success_amount FROM payment_stats WHERE merchant_id = %s", (TEST_MERCHANT_ID,)
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def paid(api: httpx.Client, amount: int) -> str:
    payment_id: str = new_payment(api, new_order(api, amount)["id"])["id"]
    assert decided(api, payment_id, 90)["status"] == "success"
    return payment_id


def test_an_overflowing_sum_is_quarantined_and_retried_after_the_fix(system: Any) -> None:
    db = system.database_url
    with psycopg.connect(db, autocommit=True) as owner:
        # The schema before the fix, and a history of ~1,023 maximal payments already summed.
        owner.execute("ALTER TABLE payment_stats ALTER COLUMN success_amount TYPE bigint")
        owner.execute(
            """INSERT INTO payment_stats (merchant_id, success_amount) VALUES (%s, %s)
               ON CONFLICT (merchant_id) DO UPDATE SET success_amount = EXCLUDED.success_amount""",
            (TEST_MERCHANT_ID, TOP - BIG + 1 - BIG),
        )
    with httpx.Client(base_url=system.url, headers=AUTH, timeout=10) as api:
        paid(api, BIG)  # the sum reaches TOP exactly
        paid(api, BIG)  # and this one overflows bigint
        rows = poll(lambda: quarantined(system), lambda r: r, 60, "a quarantined event")
        assert rows[0]["follower"] == "payment_stats"
        assert rows[0]["event_type"] == "payment.succeeded.v1"
        assert "NumericValueOutOfRange" in rows[0]["error"]
        # The system stays up and every follower goes on: the projector, the book, the dispatcher.
        assert system.procs["projector"].poll() is None
        system.wait_healthy()
        paid(api, 50000)
        poll(lambda: stats(db)[0], lambda n: n == 3, 60, "payment_stats counting on past the quarantined event")
        poll(
            lambda: api.get("/api/v1/balance").json()["balances"],
            lambda b: b and b[0]["payments_succeeded"] == 2 * BIG + 50000,
            60,
            "the balances projection counting every payment",
        )
        assert any("event.quarantined" in p.read_text() for p in Path(system.logs).glob("projector*.log"))

        # Retried before the fix: it fails again and stays quarantined.
        again = cli(system, "retry", "--all")
        assert again.returncode == 1, again.stdout + again.stderr
        assert {r["id"] for r in rows} <= {r["id"] for r in quarantined(system)}

        # The fix: schema.sql applied again (it turns the sum back into numeric, and is safe to re-apply).
        with psycopg.connect(db, autocommit=True) as owner:
            owner.execute(schema_sql())  # type: ignore[arg-type]
            owner.execute(schema_sql())  # type: ignore[arg-type]
        fixed = cli(system, "retry", "--all")
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert all(json.loads(line)["retried"] for line in fixed.stdout.splitlines())
        assert quarantined(system) == []
        assert stats(db) == (3, TOP - BIG + 1 - BIG + 2 * BIG + 50000)


def test_a_poison_event_never_stops_the_dispatcher_or_projector(system: Any) -> None:
    """An event no follower can read (written behind the application's back, as a superuser)."""
    with psycopg.connect(system.database_url, autocommit=True) as owner:
        owner.execute(
            """INSERT INTO events (event_id, stream_id, stream_version, type, data)
               VALUES (%s, %s, 1, 'payment.created.v1', '{}')""",
            (uuid.uuid4(), f"payment-poison-{uuid.uuid4().hex[:8]}"),
        )
    rows = poll(
        lambda: quarantined(system),
        lambda r: {"dispatcher", "payment_stats"} <= {x["follower"] for x in r},
        60,
        "the poison event quarantined by the dispatcher and payment_stats",
    )
    assert all("KeyError" in r["error"] for r in rows)
    with httpx.Client(base_url=system.url, headers=AUTH, timeout=10) as api:
        paid(api, 50000)  # the dispatcher enqueued it, a worker decided it: both went on
    assert system.procs["dispatcher"].poll() is None and system.procs["projector"].poll() is None
    # The event itself can never be fixed: a retry says so and keeps it.
    again = cli(system, "retry", "--id", str(rows[0]["id"]))
    assert again.returncode == 1
    assert rows[0]["id"] in {r["id"] for r in quarantined(system)}
