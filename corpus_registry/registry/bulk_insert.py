"""Many rows into one table, in as few statements as the database allows.

Why not one executemany on SQLite: ``documents`` keeps its full-text index (FTS5) in step with an
``AFTER INSERT`` trigger, and each execution of a statement that fires a trigger opens a statement
savepoint, at which FTS5 writes its pending terms to disk: one tiny index segment per row, merged
again and again (half of ingest's SQLite time). One ``INSERT … VALUES (…), (…), …`` per few hundred
rows opens one savepoint per statement instead (and binds the values without SQLAlchemy's per-row
parameter processing). The values are converted by the column types' own
bind processors, so the stored row is the one a Core insert would store. Other databases get the
Core executemany.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any, cast

from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

#: SQLite's bound-parameter limit when the driver cannot tell (the limit of SQLite before 3.32)
_SQLITE_OLD_LIMIT = 999
#: rows per statement at most (long statements cost more to parse than they save)
_MAX_ROWS = 500
#: SQLite's settings for a connection that writes batch after batch (page cache in KiB as a negative
#: number, log pages between checkpoints), and the defaults they are set back to
_BULK_PRAGMAS = {"cache_size": -32768, "wal_autocheckpoint": 16384}
_DEFAULT_PRAGMAS = {"cache_size": -2000, "wal_autocheckpoint": 1000}


def table_of(model: type) -> Table:
    """A model's table, for the statements here (no ORM bookkeeping)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], *,
                ignore_conflicts: bool = False) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table`` in the session's transaction;
    ``ignore_conflicts``: ON CONFLICT DO NOTHING (a row whose key is there already is skipped)."""
    if not rows:
        return
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":  # Core executemany: no ORM bookkeeping
        statement = postgresql.insert(table).on_conflict_do_nothing() if ignore_conflicts else insert(table)
        session.execute(statement, list(rows))
        return
    dialect = bind.dialect
    keys = list(rows[0])
    processors = [table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys]
    converters: list[tuple[int, Callable[[Any], Any]]] = [(i, p) for i, p in enumerate(processors) if p is not None]
    values: list[list[Any]] = []
    for row in rows:
        value = [row[key] for key in keys]
        for i, convert in converters:
            value[i] = convert(value[i])
        values.append(value)
    _multirow(session.connection(), table, keys, values, tail=" ON CONFLICT DO NOTHING" if ignore_conflicts else "")


def insert_values(connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT ``rows`` (tuples of plain values already in the database's types, in ``columns``' order)
    into ``table``: on SQLite as :func:`insert_rows` does (a build's millions of fates went through
    executemany a third slower, each row one execution of the statement); elsewhere the driver's
    executemany."""
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        _multirow(connection, table, columns, rows)
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(_head(connection, table, columns) + "(" + ", ".join([mark] * len(columns)) + ")",
                               list(rows))


def _head(connection: Connection, table: Table, columns: Sequence[str]) -> str:
    quote = connection.dialect.identifier_preparer
    return f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) VALUES "


def _multirow(connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              tail: str = "") -> None:
    """SQLite: one ``INSERT … VALUES (…), (…), …`` per few hundred rows (within its bound-parameter limit)."""
    per_statement = max(1, min(_MAX_ROWS, _variable_limit(connection) // len(columns)))
    head = _head(connection, table, columns)
    placeholder = "(" + ", ".join("?" * len(columns)) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        connection.exec_driver_sql(head + ", ".join([placeholder] * len(chunk)) + tail,
                                   tuple(chain.from_iterable(chunk)))


def bulk_writes(session: Session, *, on: bool = True) -> None:
    """Set the session's SQLite connection up for many batches in a row (``on=False``: back to SQLite's
    defaults). Each batch inserts into the same indexes at random places (identifiers, sha256): with a
    page cache of 32 MB instead of 2 and a checkpoint every 64 MB of log instead of 4, the pages they
    touch stay in memory and are copied into the database file once rather than after every few
    batches (ingest 10 % faster at 100k documents, ``bench/ingest.py``). Other databases: nothing."""
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = session.connection()
    for name, value in (_BULK_PRAGMAS if on else _DEFAULT_PRAGMAS).items():
        connection.exec_driver_sql(f"PRAGMA {name}={int(value)}")


def _variable_limit(connection: Any) -> int:
    """How many ``?`` one SQLite statement may hold."""
    dbapi = connection.connection.driver_connection
    getlimit = getattr(dbapi, "getlimit", None)  # Python 3.11+
    if getlimit is None:
        return _SQLITE_OLD_LIMIT
    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
