"""Projection rules as data: what an event does to the read tables, apart from how it is done.

Each projection's ``changes(event, read)`` returns effects. ``execute`` runs them as SQL on a connection (live:
inside the append transaction or the projection runner's), and ``Tables`` folds them in memory (a replay, which
then writes each table with one COPY). One rule, two engines, so a replay and the live tables cannot drift
apart, and a replay costs microseconds per event instead of a statement per table.

Effects address rows by primary key, given in the table's key order. A column an effect never sets keeps the
table's default, in both engines; a column that ``add`` adds to starts at 0 (every such column's default).
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import psycopg
from psycopg import sql

from ledger import Recorded, arrays


@dataclass(frozen=True, slots=True)
class Col:
    """As an ``Update`` value: this column's value before the update."""

    name: str


@dataclass(frozen=True, slots=True)
class Insert:
    """Write ``row`` unless a row with its ``key`` columns exists; ``then`` only if it was written."""

    table: str
    row: dict[str, Any]
    key: tuple[str, ...] = ("id",)
    then: tuple["Effect", ...] = ()


@dataclass(frozen=True, slots=True)
class Update:
    """Set ``values`` and add ``add`` to the row at ``key``; nothing when there is no such row."""

    table: str
    key: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    add: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tally:
    """Add ``add`` to the row at ``key``, creating it (from zeros) when missing."""

    table: str
    key: dict[str, Any]
    add: dict[str, int]


Effect = Insert | Update | Tally
#: ``read(table, key, column)``: a column of a row as the projections have written it so far (None: no row).
Read = Callable[[str, dict[str, Any], str], Awaitable[Any]]
Changes = Callable[[Recorded, Read], Awaitable[Sequence[Effect]]]


# ---------------------------------------------------------------- SQL, for the live tables
# Each statement's text is made once per shape and kept as bytes: composing it costs ~90 µs, on the API's path.


@cache
def _insert_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...], returning: bool) -> bytes:
    return (
        sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING{}")
        .format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            sql.SQL(", ").join(map(sql.Identifier, key)),
            sql.SQL(" RETURNING 1" if returning else ""),
        )
        .as_bytes(None)
    )


@cache
def _update_sql(
    table: str, values: tuple[tuple[str, str | None], ...], add: tuple[str, ...], key: tuple[str, ...]
) -> bytes:
    sets = [
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Identifier(src) if src else sql.Placeholder())
        for c, src in values
    ] + [sql.SQL("{0} = {0} + {1}").format(sql.Identifier(c), sql.Placeholder()) for c in add]
    return (
        sql.SQL("UPDATE {} SET {} WHERE {}")
        .format(
            sql.Identifier(table),
            sql.SQL(", ").join(sets),
            sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in key),
        )
        .as_bytes(None)
    )


@cache
def _tally_sql(table: str, key: tuple[str, ...], add: tuple[str, ...]) -> bytes:
    return (
        sql.SQL("INSERT INTO {} AS t ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}")
        .format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, key + add)),
            sql.SQL(", ").join(sql.Placeholder() * (len(key) + len(add))),
            sql.SQL(", ").join(map(sql.Identifier, key)),
            sql.SQL(", ").join(sql.SQL("{0} = t.{0} + EXCLUDED.{0}").format(sql.Identifier(c)) for c in add),
        )
        .as_bytes(None)
    )


async def execute(conn: psycopg.AsyncConnection[Any], effects: Iterable[Effect]) -> None:
    """Run ``effects`` as SQL, in order, on ``conn`` (unqualified names: the search path picks the tables)."""
    for e in effects:
        if isinstance(e, Insert):
            cur = await conn.execute(_insert_sql(e.table, tuple(e.row), e.key, bool(e.then)), tuple(e.row.values()))
            if e.then and await cur.fetchone():
                await execute(conn, e.then)
        elif isinstance(e, Update):
            if not (e.values or e.add):
                continue
            shape, params = _update_shape(e)
            await conn.execute(_update_sql(e.table, shape, tuple(e.add), tuple(e.key)), params)
        else:
            await conn.execute(_tally_sql(e.table, tuple(e.key), tuple(e.add)), (*e.key.values(), *e.add.values()))


@cache
def _insert_if_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...], condition: str) -> str:
    return (
        sql.SQL("INSERT INTO {} ({}) SELECT {} WHERE {} ON CONFLICT ({}) DO NOTHING")
        .format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            sql.SQL(condition),
            sql.SQL(", ").join(map(sql.Identifier, key)),
        )
        .as_string(None)
    )


@cache
def _update_if_sql(
    table: str, values: tuple[tuple[str, str | None], ...], add: tuple[str, ...], key: tuple[str, ...], condition: str
) -> str:
    return _update_sql(table, values, add, key).decode() + f" AND {condition}"


def _then(first: Update, second: Update) -> Update | None:
    """One update doing what ``first`` then ``second`` do to the same row, or None when ``second`` reads what
    ``first`` writes (a column's old value, or a sum over a value just set)."""
    if Col in map(type, second.values.values()) or not second.add.keys().isdisjoint(first.values):
        return None
    add = first.add
    if second.add:
        add = dict(add)
        for c, n in second.add.items():
            add[c] = add.get(c, 0) + n
    if add and second.values:
        add = {c: n for c, n in add.items() if c not in second.values}
    return Update(first.table, first.key, first.values | second.values, add)


def _distinct(effects: Sequence[Effect]) -> dict[tuple[Any, ...], Insert | Update] | None:
    """``effects`` by the row each writes, successive updates of a row made one; None when they are not inserts
    and updates of distinct rows (an update after the insert of its row, a tally, an insert with ``then``)."""
    rows: dict[tuple[Any, ...], Insert | Update] = {}
    for e in effects:
        if type(e) is Insert and not e.then:
            row = (e.table, *map(e.row.__getitem__, e.key))
        elif type(e) is Update:
            row = (e.table, *e.key.values())
        else:
            return None
        if (seen := rows.get(row)) is not None:
            if type(seen) is not Update or type(e) is not Update or (merged := _then(seen, e)) is None:
                return None
            e = merged
        rows[row] = e
    return rows


def _update_shape(e: Update) -> tuple[tuple[tuple[str, str | None], ...], tuple[Any, ...]]:
    """An update's SET shape (column, source column or None for a parameter) and its parameters, keys last."""
    values = e.values
    if Col not in map(type, values.values()):  # every value a parameter, as nearly always: no pass in Python
        return _parameters(tuple(values)), (*values.values(), *e.add.values(), *e.key.values())
    shape = tuple((c, v.name if isinstance(v, Col) else None) for c, v in values.items())
    params = (*(v for v in values.values() if not isinstance(v, Col)), *e.add.values(), *e.key.values())
    return shape, params


@cache
def _parameters(columns: tuple[str, ...]) -> tuple[tuple[str, None], ...]:
    """The SET shape of ``columns``, each set from a parameter."""
    return tuple((c, None) for c in columns)


def riding(effects: Sequence[Effect], condition: str) -> list[tuple[str, tuple[Any, ...]]] | None:
    """``effects`` as statements (text, parameters) that take effect only under ``condition``, to ride inside
    another statement; None when they cannot. Only inserts and updates of distinct rows can (successive updates
    of one row are made one): the parts of one statement all see the tables as they were before it, so a later
    effect could not see an earlier one."""
    if (rows := _distinct(effects)) is None:
        return None
    out = []
    for e in rows.values():
        if type(e) is Insert:
            out.append((_insert_if_sql(e.table, tuple(e.row), e.key, condition), tuple(e.row.values())))
        elif type(e) is Update and (e.values or e.add):
            shape, params = _update_shape(e)
            out.append((_update_if_sql(e.table, shape, tuple(e.add), tuple(e.key), condition), params))
    return out


#: Column types of the read tables, by table: what the batch statements cast their array parameters to.
Types = dict[str, dict[str, str]]
_TYPES: Types = {}


async def column_types(conn: psycopg.AsyncConnection[Any], tables: Iterable[str]) -> Types:
    """The SQL types of ``tables``' columns (looked up once per process: the schema is applied before any part
    starts)."""
    if missing := sorted(set(tables) - _TYPES.keys()):
        cur = await conn.execute(
            """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               WHERE a.attrelid = ANY(%s::regclass[]) AND a.attnum > 0 AND NOT a.attisdropped""",
            (missing,),
        )
        for table, column, type_ in await cur.fetchall():
            _TYPES.setdefault(table, {})[column] = type_
    return _TYPES


def _unnest(types: tuple[str, ...], stream: bool) -> tuple[str, list[str]]:
    """``unnest(...) AS u(p0, p1, ...)`` of one array parameter a column (sent in binary), and the names; with
    ``stream``, a last array of stream ids, ``u.stream``."""
    names = [f"p{i}" for i in range(len(types))]
    arrays = [f"%b::{t}[]" for t in types] + (["%b::text[]"] if stream else [])
    return f"unnest({', '.join(arrays)}) AS u({', '.join(names + (['stream'] if stream else []))})", names


@cache
def _insert_unnest_sql(
    table: str, columns: tuple[str, ...], key: tuple[str, ...], types: tuple[str, ...], condition: str | None
) -> str:
    """Insert the rows of column arrays, those whose stream was appended (``condition``) or all of them (None,
    returning the keys of the rows written)."""
    source, names = _unnest(types, condition is not None)
    keys = ", ".join(map(_ident, key))
    return (
        f"INSERT INTO {_ident(table)} ({', '.join(map(_ident, columns))}) SELECT {', '.join(names)} FROM {source}"
        + (f" WHERE {condition}" if condition else "")
        + f" ON CONFLICT ({keys}) DO NOTHING"
        + ("" if condition else f" RETURNING {keys}")
    )


@cache
def _update_batch_sql(
    table: str,
    values: tuple[tuple[str, str | None], ...],
    add: tuple[str, ...],
    key: tuple[str, ...],
    types: tuple[str, ...],
    condition: str,
) -> str:
    source, names = _unnest(types, True)
    given = iter(names)
    sets = [f"{_ident(c)} = {f't.{_ident(src)}' if src else f'u.{next(given)}'}" for c, src in values]
    sets += [f"{_ident(c)} = t.{_ident(c)} + u.{next(given)}" for c in add]
    keys = [f"t.{_ident(k)} = u.{next(given)}" for k in key]
    return f"UPDATE {_ident(table)} AS t SET {', '.join(sets)} FROM {source} WHERE {' AND '.join(keys)} AND {condition}"


def _columns(rows: Iterable[Sequence[Any]], types: Sequence[str]) -> list[Any]:
    """Rows as column arrays of ``types``, one a parameter of an ``unnest`` statement."""
    return [arrays.encode(t, column) for t, column in zip(types, zip(*rows, strict=True), strict=True)]


def _ident(name: str) -> str:
    return sql.Identifier(name).as_string(None)


def riding_batch(
    items: Sequence[tuple[str, Sequence[Effect]]], types: Types, condition: Callable[[str], str]
) -> list[tuple[str, list[Any]]] | None:
    """The effects of several streams' appends, as statements riding in one batch append: each effect of a
    stream takes effect only if that stream was appended (``condition(column)``: that the stream named in
    ``column`` was). One statement per shape of effect, its rows given as arrays, whatever their number. None
    when they cannot ride: each stream's as in ``riding``, and no row written for two streams."""
    shapes: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    # Each effect's shape, made once a call for each form: (kind, table, its columns).
    known: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    form: tuple[Any, ...]
    written: set[tuple[Any, ...]] = set()
    for stream_id, effects in items:
        if (rows := _distinct(effects)) is None or not written.isdisjoint(rows):
            return None
        written.update(rows)
        for e in rows.values():
            if type(e) is Insert:
                if (shape := known.get(form := ("insert", e.table, e.key, *e.row))) is None:
                    columns, cols = types[e.table], tuple(e.row)
                    shape = known[form] = ("insert", e.table, cols, e.key, tuple(columns[c] for c in cols))
                shapes.setdefault(shape, []).append((*e.row.values(), stream_id))
            elif type(e) is Update and (e.values or e.add):
                values, params = _update_shape(e)
                if (shape := known.get(form := ("update", e.table, values, *e.add, None, *e.key))) is None:
                    columns = types[e.table]
                    typed = [c for c, src in values if src is None] + [*e.add, *e.key]
                    shape = ("update", e.table, values, tuple(e.add), tuple(e.key), tuple(columns[c] for c in typed))
                    known[form] = shape
                shapes.setdefault(shape, []).append((*params, stream_id))
    out = []
    for shape, rows_of in shapes.items():
        if shape[0] == "insert":
            text = _insert_unnest_sql(*shape[1:], condition("u.stream"))
        else:
            text = _update_batch_sql(*shape[1:], condition("u.stream"))
        out.append((text, _columns(rows_of, (*shape[-1], "text"))))
    return out


@cache
def _select_sql(table: str, key: tuple[str, ...], column: str) -> bytes:
    return (
        sql.SQL("SELECT {} FROM {} WHERE {}")
        .format(
            sql.Identifier(column),
            sql.Identifier(table),
            sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in key),
        )
        .as_bytes(None)
    )


def reader(conn: psycopg.AsyncConnection[Any]) -> Read:
    """``Read`` from the tables on ``conn``."""

    async def read(table: str, key: dict[str, Any], column: str) -> Any:
        row = await (await conn.execute(_select_sql(table, tuple(key), column), tuple(key.values()))).fetchone()
        return None if row is None else row[0]

    return read


def applier(
    changes: Changes, types: frozenset[str]
) -> Callable[[psycopg.AsyncConnection[Any], Recorded], Awaitable[None]]:
    """A projection's live ``apply(conn, event)``: its ``changes`` run as SQL, for the event ``types`` it reads
    (the others it passes by without a call: every append runs every inline projection)."""

    async def apply(conn: psycopg.AsyncConnection[Any], event: Recorded) -> None:
        if event.type in types:
            await execute(conn, await changes(event, reader(conn)))

    return apply


def summed(effects: Iterable[Effect]) -> list[Effect]:
    """``effects`` with the tallies of one row added up into one, in the order each row first appears. Only for
    effects that are all tallies: sums commute, and nothing else may come between them."""
    rows: dict[tuple[str, tuple[Any, ...]], Tally] = {}
    for e in effects:
        if not isinstance(e, Tally):
            raise TypeError(f"only tallies add up: {e!r}")
        at = (e.table, tuple(e.key.items()))
        if (seen := rows.get(at)) is None:
            rows[at] = Tally(e.table, e.key, dict(e.add))
        else:
            for column, n in e.add.items():
                seen.add[column] = seen.add.get(column, 0) + n
    return list(rows.values())


@cache
def _tally_many_sql(table: str, key: tuple[str, ...], add: tuple[str, ...], types: tuple[str, ...]) -> str:
    source, names = _unnest(types, False)
    sums = ", ".join(f"{_ident(c)} = t.{_ident(c)} + EXCLUDED.{_ident(c)}" for c in add)
    return (
        f"INSERT INTO {_ident(table)} AS t ({', '.join(map(_ident, key + add))}) SELECT {', '.join(names)} "
        f"FROM {source} ON CONFLICT ({', '.join(map(_ident, key))}) DO UPDATE SET {sums}"
    )


async def execute_many(conn: psycopg.AsyncConnection[Any], effects: Sequence[Effect]) -> None:
    """What ``execute`` does with ``effects``, in one statement per shape of effect when they are inserts and
    tallies (a batch of the projection runner's): inserts of distinct rows and tallies all commute, so they may
    go in any order. A repeated insert of a row is the no-op it is one by one (its ``then`` never runs). Anything
    else runs one by one."""
    if any(type(e) is Update for e in effects):
        return await execute(conn, effects)
    inserts: dict[tuple[Any, ...], Insert] = {}
    tallies = []
    for e in effects:
        if type(e) is Insert:
            inserts.setdefault((e.table, *map(e.row.__getitem__, e.key)), e)
        elif type(e) is Tally:
            tallies.append(e)
    types = await column_types(conn, {e.table for e in effects})
    shapes: dict[tuple[Any, ...], list[Insert]] = {}
    for e in inserts.values():
        shapes.setdefault((e.table, tuple(e.row), e.key), []).append(e)
    then: list[Effect] = []
    for (table, columns, key), rows in shapes.items():
        typed = tuple(types[table][c] for c in columns)
        text = _insert_unnest_sql(table, columns, key, typed, None)
        cur = await conn.execute(text, _columns((tuple(e.row.values()) for e in rows), typed))
        if any(e.then for e in rows):
            written = {tuple(r) for r in await cur.fetchall()}
            then += [t for e in rows if tuple(map(e.row.__getitem__, key)) in written for t in e.then]
    if then:
        await execute_many(conn, then)
    by_shape: dict[tuple[Any, ...], list[Tally]] = {}
    for t in summed(tallies):
        assert isinstance(t, Tally)
        by_shape.setdefault((t.table, tuple(t.key), tuple(t.add)), []).append(t)
    for (table, key, add), rows_of in by_shape.items():
        typed = tuple(types[table][c] for c in key + add)
        text = _tally_many_sql(table, key, add, typed)
        await conn.execute(text, _columns(((*t.key.values(), *t.add.values()) for t in rows_of), typed))


async def prefetching(conn: psycopg.AsyncConnection[Any], changes: Changes, events: Sequence[Recorded]) -> Read:
    """A ``Read`` for the ``changes`` of ``events`` that asks each table once: a first pass notes what the rules
    read, one query per table, column and single-column key fetches all of it, and the rules then read from
    that. Only for rules that read tables their projection does not write (a read must not depend on the
    batch's own effects); a read nobody noted is asked of the table there and then."""
    wanted: dict[tuple[str, str, str], set[Any]] = defaultdict(set)

    async def note(table: str, key: dict[str, Any], column: str) -> Any:
        if len(key) == 1:
            ((name, value),) = key.items()
            wanted[table, name, column].add(value)
        return None

    for event in events:
        try:
            await changes(event, note)
        except Exception:  # noqa: S112 -- a rule that needs a real value: the second pass reads it
            continue
    found: dict[tuple[str, str, str], dict[Any, Any]] = {}
    for (table, name, column), values in wanted.items():
        text = sql.SQL("SELECT {}, {} FROM {} WHERE {} = ANY(%s)").format(
            sql.Identifier(name), sql.Identifier(column), sql.Identifier(table), sql.Identifier(name)
        )
        cur = await conn.execute(text, (list(values),))
        found[table, name, column] = dict(await cur.fetchall())
    live = reader(conn)

    async def read(table: str, key: dict[str, Any], column: str) -> Any:
        if len(key) == 1:
            ((name, value),) = key.items()
            got = found.get((table, name, column))
            if got is not None and value in wanted[table, name, column]:
                return got.get(value)
        return await live(table, key, column)

    return read


def batch_applier(
    changes: Changes, types: frozenset[str]
) -> Callable[[psycopg.AsyncConnection[Any], Sequence[Recorded]], Awaitable[list[Any]]]:
    """A batch form of ``applier``, for the projection runner: the batch's reads asked at once (``prefetching``:
    only for a projection that never reads its own tables) and its effects run by ``execute_many``. Same rows as
    event by event."""

    async def apply_many(conn: psycopg.AsyncConnection[Any], events: Sequence[Recorded]) -> list[Any]:
        mine = [e for e in events if e.type in types]
        read = await prefetching(conn, changes, mine)
        await execute_many(conn, [e for event in mine for e in await changes(event, read)])
        return []

    return apply_many


# ---------------------------------------------------------------- memory, for a replay


class Tables:
    """Read tables held in memory, as ``{table: {key values: row}}``, each row only the columns set."""

    def __init__(self) -> None:
        self.rows: defaultdict[str, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
        #: Tables kept by ``Tally`` alone, with their key columns: the partial sums of several folds add up.
        self.tallies: dict[str, tuple[str, ...]] = {}
        self.updated: set[str] = set()
        #: (position, projection, error) of each event a projection's ``changes`` failed on.
        self.skipped: list[tuple[int, str, str]] = []

    def apply(self, effects: Sequence[Effect]) -> None:
        rows = self.rows
        for e in effects:
            table = rows[e.table]
            if type(e) is Insert:
                row = e.row
                key = tuple(map(row.__getitem__, e.key))
                if key not in table:
                    table[key] = dict(row)
                    self.updated.add(e.table)
                    if e.then:
                        self.apply(e.then)
            elif type(e) is Update:
                found = table.get(tuple(e.key.values()))
                if found is None:
                    continue
                self.updated.add(e.table)
                # Every right-hand side sees the row as it was, as in SQL: compute all, then write.
                new = {c: found.get(v.name) if type(v) is Col else v for c, v in e.values.items()}
                for c, n in e.add.items():
                    new[c] = found.get(c, 0) + n
                found.update(new)
            elif type(e) is Tally:
                key = tuple(e.key.values())
                found = table.get(key)
                if found is None:
                    table[key] = e.key | e.add
                    self.tallies.setdefault(e.table, tuple(e.key))
                else:
                    for c, n in e.add.items():
                        found[c] = found.get(c, 0) + n

    def tally_tables(self) -> tuple[dict[str, tuple[str, ...]], dict[str, dict[tuple[Any, ...], dict[str, Any]]]]:
        """The tally tables, as their key columns and their rows: what ``add_tallies`` of another fold takes."""
        return self.tallies, {t: self.rows[t] for t in self.tallies}

    def add_tallies(
        self, keys: dict[str, tuple[str, ...]], tallied: dict[str, dict[tuple[Any, ...], dict[str, Any]]]
    ) -> None:
        """Add the tally tables of another fold (of other streams) to these."""
        for name, rows in tallied.items():
            key_columns = self.tallies.setdefault(name, keys[name])
            table = self.rows[name]
            for key, row in rows.items():
                found = table.get(key)
                if found is None:
                    table[key] = row
                else:
                    for c, n in row.items():
                        if c not in key_columns:
                            found[c] = found.get(c, 0) + n

    def written(self) -> list[str]:
        """Tables written row by row (``Insert``, ``Update``). A table also tallied is refused: partial folds of
        it could not be added up."""
        if both := self.tallies.keys() & self.updated:
            raise ValueError(f"{sorted(both)} both tallied and written row by row")
        return [t for t in self.rows if t not in self.tallies]

    async def read(self, table: str, key: dict[str, Any], column: str) -> Any:
        row = self.rows[table].get(tuple(key.values()))
        return None if row is None else row.get(column)

    async def copy_to(self, conn: psycopg.AsyncConnection[Any], schema: str, table: str) -> int:
        """Write ``table``'s rows into ``schema``: one COPY per set of columns set, the rest the defaults."""
        shapes: defaultdict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for row in self.rows[table].values():
            shapes[tuple(row)].append(row)
        for columns, rows in shapes.items():
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            async with conn.cursor().copy(statement) as copy:
                for row in rows:
                    await copy.write_row(tuple(row.values()))
        return len(self.rows[table])
