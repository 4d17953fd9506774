"""Hot statements run on psycopg's own parts, without a cursor.

A cursor a statement costs its own adapters map and transformer, a row maker, the prepared-statement manager's
bookkeeping and an async context: a one-row `SELECT` took 106-111 µs of client CPU through a cursor and 78-83
this way (a scratch loop, 10,000 each way, three rounds). Here each connection keeps one transformer and its
own named prepared statements, and a statement is psycopg's query conversion and dumping, one
`send_query_prepared`, the connection's own ``wait`` (which cancels on the server a statement whose task is
cancelled) and the transformer's row loading: the same values in and out, the same exceptions.

They run only on connections where psycopg prepares nothing itself (``prepare_threshold=None``, as
``paygate.database.make_pool`` makes the API's): psycopg deallocates all of a connection's prepared statements
after a rollback if it holds some of its own, ours with them. Elsewhere psycopg's cursor runs the statement, as
it always did; so it does on a connection it would first put into a transaction (not autocommit and idle), one
in pipeline mode or not ready, and one that already holds ``LIMIT`` statements of ours.
"""

import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

import psycopg
from psycopg import abc, errors, generators, pq
from psycopg._queries import PostgresQuery  # the cursor's own conversion, so parameters dump exactly as there
from psycopg.adapt import AdaptersMap, Transformer
from psycopg.rows import dict_row

Row = TypeVar("Row")

#: Statements prepared on one connection by this module: a bound, as psycopg's own manager has one.
LIMIT = 64

_OK = pq.ConnStatus.OK
_IDLE = pq.TransactionStatus.IDLE
_PIPELINE_OFF = pq.PipelineStatus.OFF
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name: the server no longer has it


class _Prepared:
    __slots__ = ("columns", "name")

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.columns: list[str] | None = None


class _Context:
    """The connection's adapters, and the connection itself weakly: a transformer keeps its context's connection,
    and a session keeping its own connection alive would never leave ``_sessions``."""

    __slots__ = ("adapters", "connection")

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.adapters: AdaptersMap = conn.adapters
        self.connection = weakref.proxy(conn)


class _Session:
    """What one connection keeps: its transformer and the statements prepared on it, by text and types."""

    __slots__ = ("named", "prepared", "tx")

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.tx: abc.Transformer = Transformer(_Context(conn))
        self.prepared: dict[tuple[bytes, tuple[int, ...]], _Prepared] = {}
        self.named = 0  # names are never reused: one whose PREPARE was interrupted may exist on the server


_sessions: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], _Session] = weakref.WeakKeyDictionary()


def _raise_for(result: pq.abc.PGresult, tx: abc.Transformer) -> None:
    status = result.status
    if status == _FATAL_ERROR:
        raise errors.error_from_result(result, encoding=tx.encoding)
    if status != _TUPLES_OK and status != _COMMAND_OK:
        raise errors.InternalError(f"unexpected result status from query: {pq.ExecStatus(status).name}")


def _produced_rows(result: pq.abc.PGresult) -> None:
    """Raises what the cursor's ``fetchall`` raises for a statement that returns no rows."""
    if result.status != _TUPLES_OK:
        status = (result.command_status or b"").decode()
        raise errors.ProgrammingError(f"the last operation didn't produce records (command status: {status})")


async def _prepare(conn: psycopg.AsyncConnection[Any], session: _Session, pgq: PostgresQuery) -> _Prepared | None:
    """``pgq``'s statement prepared on ``conn`` under a new name (None: ``conn`` holds ``LIMIT`` already)."""
    if len(session.prepared) >= LIMIT:
        return None
    session.named += 1
    name = b"_paygate_%d" % session.named
    conn.pgconn.send_prepare(name, pgq.query, param_types=pgq.types)
    for result in await conn.wait(generators.execute(conn.pgconn)):
        _raise_for(result, session.tx)
    prepared = session.prepared[pgq.query, pgq.types] = _Prepared(name)
    return prepared


async def _run(
    conn: psycopg.AsyncConnection[Any], query: str, params: Sequence[Any]
) -> tuple[pq.abc.PGresult, _Prepared, abc.Transformer] | None:
    """The statement's one result, or None where psycopg's cursor should run it instead."""
    pgconn = conn.pgconn
    if (
        conn.prepare_threshold is not None
        or pgconn.status != _OK
        or pgconn.pipeline_status != _PIPELINE_OFF
        or (not conn.autocommit and pgconn.transaction_status == _IDLE)
    ):
        return None
    session = _sessions.get(conn)
    if session is None:
        session = _sessions[conn] = _Session(conn)
    tx = session.tx
    pgq = PostgresQuery(tx)
    pgq.convert(query, params)
    key = (pgq.query, pgq.types)
    async with conn.lock:
        for retried in (False, True):
            prepared = session.prepared.get(key) or await _prepare(conn, session, pgq)
            if prepared is None:
                return None
            pgconn.send_query_prepared(prepared.name, pgq.params, param_formats=pgq.formats)
            results = await conn.wait(generators.execute(pgconn))
            if not results:
                raise errors.InternalError("got no result from the query")
            result = results[0]
            # The server may have forgotten it (a DEALLOCATE ALL, a pooler's new session): then nothing ran, and
            # outside a transaction it is prepared and run again, once; inside, the transaction is lost.
            forgotten = result.status == _FATAL_ERROR and result.error_field(_SQLSTATE) == _NO_SUCH_STATEMENT
            if forgotten:
                del session.prepared[key]
            if not forgotten or retried or not conn.autocommit or pgconn.transaction_status != _IDLE:
                for r in results:
                    _raise_for(r, tx)
                return result, prepared, tx
    raise AssertionError("the second pass always returns")


@overload
async def fetch(conn: psycopg.AsyncConnection[Any], query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...


@overload
async def fetch(
    conn: psycopg.AsyncConnection[Any], query: str, params: Sequence[Any], make_row: Callable[[Sequence[Any]], Row]
) -> list[Row]: ...


async def fetch(
    conn: psycopg.AsyncConnection[Any],
    query: str,
    params: Sequence[Any],
    make_row: Callable[[Sequence[Any]], Any] = tuple,
) -> list[Any]:
    """The rows of one statement that returns rows (``%s`` placeholders), each made by ``make_row`` from its
    values in order (a tuple by default)."""
    ran = await _run(conn, query, params)
    if ran is None:
        async with conn.cursor(row_factory=lambda _: make_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()
    result, _, tx = ran
    _produced_rows(result)
    tx.set_pgresult(result)
    return tx.load_rows(0, result.ntuples, make_row)


async def fetch_dicts(conn: psycopg.AsyncConnection[Any], query: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of one statement, each a dict by column name (as psycopg's ``dict_row`` makes them)."""
    ran = await _run(conn, query, params)
    if ran is None:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()
    result, prepared, tx = ran
    _produced_rows(result)
    if prepared.columns is None:
        prepared.columns = [(result.fname(i) or b"").decode(tx.encoding) for i in range(result.nfields)]
    columns = prepared.columns
    tx.set_pgresult(result)
    return tx.load_rows(0, result.ntuples, lambda values: dict(zip(columns, values, strict=True)))
