"""``ledger.statements`` runs hot statements without a cursor, against real PostgreSQL: the same values in and out
as psycopg's cursor, the same exceptions, a connection still usable after an error, a cancel or a forgotten
statement, and psycopg's own path wherever it knows better."""

import asyncio
import contextlib
import gc
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from storekit import app_connection

from ledger import statements
from paygate.database import APP_ROLE

ROW = "SELECT %s::text AS t, %s::bigint AS n, %s::uuid AS u, %s::timestamptz AS at, %s::jsonb AS doc, %s::boolean AS b"
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(st.characters(codec="utf-8", exclude_characters="\x00")),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
rows = st.tuples(
    st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\x00")),
    st.none() | st.integers(-(2**63), 2**63 - 1),
    st.none() | st.uuids(),
    st.none() | st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    st.none() | json_values.map(Jsonb),
    st.none() | st.booleans(),
)


@contextlib.asynccontextmanager
async def lean_connection(url: str, autocommit: bool = True) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection as the pool makes them: autocommit, the application role, psycopg preparing nothing."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=autocommit, prepare_threshold=None) as conn:
        await conn.execute(f"SET ROLE {APP_ROLE}")
        yield conn


@pytest.fixture
async def lean(store: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with lean_connection(store) as conn:
        yield conn


async def by_cursor(conn: psycopg.AsyncConnection[Any], query: str, params: Any) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def prepared_here(conn: psycopg.AsyncConnection[Any]) -> int:
    row = await (
        await conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE '\\_paygate\\_%'")
    ).fetchone()
    assert row is not None
    return int(row[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=rows)
def test_values_come_back_as_the_cursor_gives_them(store: str, values: tuple[Any, ...]) -> None:
    async def check() -> None:
        async with lean_connection(store) as conn:
            expected = await by_cursor(conn, ROW, values)
            assert await statements.fetch_dicts(conn, ROW, values) == expected
            assert await statements.fetch(conn, ROW, values) == [tuple(expected[0].values())]

    asyncio.run(check())


async def test_one_statement_is_prepared_once_whatever_its_parameters(lean: Any) -> None:
    for n in range(10):
        assert await statements.fetch(lean, "SELECT %s::int + 1", (n,)) == [(n + 1,)]
    assert await prepared_here(lean) == 1
    assert await statements.fetch(lean, "SELECT 1 WHERE false", ()) == []
    assert await statements.fetch_dicts(lean, "SELECT 1 AS one WHERE false", ()) == []


@pytest.mark.parametrize(
    ("query", "params", "error"),
    [
        ("SELECT 1 / %s::int", (0,), psycopg.errors.DivisionByZero),
        ("SELEC 1", (), psycopg.errors.SyntaxError),
        ("SELECT %s::int", ("many",), psycopg.errors.InvalidTextRepresentation),
        ("SELECT * FROM no_such_table WHERE id = %s", (1,), psycopg.errors.UndefinedTable),
    ],
)
async def test_errors_are_psycopgs_own_and_the_connection_goes_on(
    lean: Any, query: str, params: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await by_cursor(lean, query, params)
    with pytest.raises(error):
        await statements.fetch(lean, query, params)
    assert await statements.fetch(lean, "SELECT %s::int", (7,)) == [(7,)]


async def test_a_unique_violation_is_raised_as_one(lean: Any) -> None:
    await lean.execute("CREATE TEMP TABLE once (id int PRIMARY KEY)")
    await statements.fetch(lean, "INSERT INTO once VALUES (%s) RETURNING id", (1,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        await statements.fetch(lean, "INSERT INTO once VALUES (%s) RETURNING id", (1,))
    with pytest.raises(psycopg.ProgrammingError, match="didn't produce records"):  # as the cursor's fetchall
        await statements.fetch(lean, "INSERT INTO once VALUES (%s)", (3,))
    assert await statements.fetch(lean, "INSERT INTO once VALUES (%s) RETURNING id", (2,)) == [(2,)]


async def test_a_statement_the_server_forgot_is_prepared_again(lean: Any) -> None:
    assert await statements.fetch(lean, "SELECT %s::int * 2", (2,)) == [(4,)]
    await lean.execute("DEALLOCATE ALL")
    assert await statements.fetch(lean, "SELECT %s::int * 2", (3,)) == [(6,)]
    await lean.execute("DEALLOCATE ALL")
    with pytest.raises(psycopg.errors.InvalidSqlStatementName):  # inside a transaction it cannot be run again
        async with lean.transaction():
            await statements.fetch(lean, "SELECT %s::int * 2", (4,))
    assert await statements.fetch(lean, "SELECT %s::int * 2", (5,)) == [(10,)]


async def test_a_cancelled_statement_is_cancelled_on_the_server_and_the_connection_goes_on(
    lean: Any, owner: Any
) -> None:
    marker = f"sleeper_{uuid.uuid4().hex}"
    task = asyncio.create_task(statements.fetch(lean, f"SELECT pg_sleep(60), %s::text AS {marker}", ("x",)))
    active = f"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%{marker}%' AND pid <> pg_backend_pid()"  # noqa: E501
    while (await (await owner.execute(active)).fetchone())[0] == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await statements.fetch(lean, "SELECT %s::int", (1,)) == [(1,)]
    assert (await (await owner.execute(active)).fetchone())[0] == 0


async def test_a_lost_connection_raises_psycopgs_operational_error(store: str, owner: Any) -> None:
    async with lean_connection(store) as conn:
        await statements.fetch(conn, "SELECT %s::int", (1,))
        await owner.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        with pytest.raises(psycopg.OperationalError):
            await statements.fetch(conn, "SELECT %s::int", (1,))
        with pytest.raises(psycopg.OperationalError):
            await statements.fetch(conn, "SELECT %s::int", (1,))


async def test_past_the_limit_psycopgs_cursor_runs_it(lean: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statements, "LIMIT", 2)
    for n in range(4):
        assert await statements.fetch(lean, f"SELECT %s::int + {n}", (1,)) == [(1 + n,)]
        assert await statements.fetch_dicts(lean, f"SELECT %s::int + {n} AS v", (1,)) == [{"v": 1 + n}]
    assert await prepared_here(lean) == 2


async def test_a_connection_not_in_autocommit_is_put_in_a_transaction_as_psycopg_does(store: str) -> None:
    async with lean_connection(store, autocommit=False) as conn:
        await conn.commit()  # SET ROLE began one
        assert await statements.fetch(conn, "SELECT %s::int", (1,)) == [(1,)]
        assert conn.info.transaction_status == TransactionStatus.INTRANS
        assert await statements.fetch(conn, "SELECT %s::int", (2,)) == [(2,)]
        await conn.rollback()


async def test_a_connection_closed_leaves_nothing_behind(store: str) -> None:
    async with lean_connection(store) as conn:
        await statements.fetch(conn, "SELECT %s::int", (1,))
        assert conn in statements._sessions
        gone = weakref.ref(conn)
    del conn
    gc.collect()
    assert gone() is None


async def test_a_rollback_keeps_them(lean: Any) -> None:
    assert await statements.fetch(lean, "SELECT %s::int - 1", (1,)) == [(0,)]
    with pytest.raises(ZeroDivisionError):
        async with lean.transaction():
            await statements.fetch(lean, "SELECT %s::int - 1", (2,))
            raise ZeroDivisionError
    async with lean.transaction():
        assert await statements.fetch(lean, "SELECT %s::int - 1", (3,)) == [(2,)]
    assert await prepared_here(lean) == 1


async def test_where_psycopg_prepares_its_own_its_cursor_runs_them(store: str) -> None:
    async with app_connection(store) as conn:  # psycopg's default: it prepares what repeats
        for n in range(8):
            assert await statements.fetch(conn, "SELECT %s::int + 1", (n,)) == [(n + 1,)]
            assert await statements.fetch_dicts(conn, "SELECT %s::int + 1 AS v", (n,)) == [{"v": n + 1}]
        assert await prepared_here(conn) == 0 and conn not in statements._sessions


async def test_in_pipeline_mode_psycopgs_cursor_runs_them(lean: Any) -> None:
    async with lean.pipeline(), lean.transaction():
        assert await statements.fetch(lean, "SELECT %s::int * 3", (2,)) == [(6,)]
        assert await statements.fetch_dicts(lean, "SELECT %s::int * 3 AS v", (3,)) == [{"v": 9}]
    assert await prepared_here(lean) == 0
