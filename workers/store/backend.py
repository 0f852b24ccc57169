"""Two ways to reach ClickHouse behind one small protocol.

* ``ChdbDatabase``: the engine in-process (chdb) on a data directory. chdb is imported lazily, inside
  the constructor, because importing it before a fork hangs the child; one process owns a path.
* ``DriverDatabase``: a ``clickhouse-server`` over the native protocol (clickhouse-driver).

``connect(target)`` picks by scheme: ``clickhouse://host:port/db`` for a server, a plain path (or
``chdb:PATH``) for chdb. Failures raise ``StoreError`` whose message is one line naming what is wrong.

Reading: ``query`` returns rows as tuples. DateTime columns come back as ``datetime`` from the server
and as seconds since the epoch from chdb (chdb's Arrow output); SQL that needs one form across both
should use ``toUnixTimestamp``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

CLICKHOUSE_PORT = 9000
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreError(Exception):
    """A storage failure with a one-line message fit for the command line."""


@runtime_checkable
class Database(Protocol):
    """What the migrator, the writer and the analyses need from a ClickHouse."""

    @property
    def target(self) -> str:
        """Where this database is, for messages (no secrets)."""
        ...

    def execute(self, sql: str) -> None:
        """Run one statement that returns nothing (DDL, INSERT ... SELECT)."""
        ...

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one SELECT and return all rows."""
        ...

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, ClickHouse type) of each column of a table, in table order."""
        ...

    def insert(
        self, table: str, names: Sequence[str], types: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        """Insert columns (one sequence per name) into a table; returns the number of rows."""
        ...

    def table_exists(self, table: str) -> bool: ...

    def close(self) -> None: ...


def sql_string(value: str) -> str:
    """A ClickHouse string literal, quoted and escaped (for values that cannot be parameters)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _check_identifier(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise StoreError(f"not a plain ClickHouse identifier: {name!r}")
    return name


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split(" Stack trace")[0].split())
    return text[:300] if text else type(exc).__name__


def _table_exists_sql(table: str) -> str:
    name = _check_identifier(table)
    return (
        f"SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = '{name}'"
    )


def epoch_seconds(value: Any) -> int:
    """A DateTime value as seconds since the epoch; naive datetimes are UTC, clamped to DateTime."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        seconds = int(aware.timestamp())
    elif isinstance(value, date):
        seconds = int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    elif value is None:
        seconds = 0
    else:
        seconds = int(value)
    return min(max(seconds, 0), 0xFFFFFFFF)


def _epochs(values: Sequence[Any], nullable: bool) -> list[Any]:
    """epoch_seconds of each value, memoised: a batch repeats the same few times (scan time)."""
    cache: dict[Any, Any] = {}
    out: list[Any] = []
    append = out.append
    for v in values:
        r = cache.get(v)
        if r is None:
            r = cache[v] = None if v is None and nullable else epoch_seconds(v)
        append(r)
    return out


def _is_datetime(ch_type: str) -> bool:
    return ch_type == "DateTime" or ch_type.startswith("DateTime(")


def _strip_nullable(ch_type: str) -> tuple[str, bool]:
    if ch_type.startswith("Nullable(") and ch_type.endswith(")"):
        return ch_type[len("Nullable(") : -1], True
    return ch_type, False


def normalise_column(ch_type: str, values: Sequence[Any]) -> Sequence[Any]:
    """Values the way both backends accept them: DateTime as epoch seconds, Arrays recursively."""
    inner, nullable = _strip_nullable(ch_type)
    if _is_datetime(inner):
        return _epochs(values, nullable)
    if inner.startswith("Array(") and _is_datetime(inner[len("Array(") : -1]):
        return [[epoch_seconds(x) for x in v] for v in values]
    return values


def _decode(value: bytes | None) -> str | bytes | None:
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value


def _pylist(column: Any) -> list[Any]:
    """A chdb Arrow column as Python values; like clickhouse-driver, a String that is not UTF-8
    (a certificate's DER) comes back as bytes."""
    try:
        return list(column.to_pylist())
    except UnicodeDecodeError:
        import pyarrow as pa

        return [_decode(v) for v in column.cast(pa.binary()).to_pylist()]


class ChdbDatabase:
    """chdb on a data directory: the embedded default. Inserts go in as Arrow IPC streams."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._errors: tuple[type[Exception], ...] = (RuntimeError,)
        try:
            import chdb  # lazy: importing chdb before a fork hangs the child
            from chdb import session
        except ImportError as exc:
            raise StoreError(f"chdb is not installed ({_one_line(exc)}): pip install chdb") from exc
        self._errors = (RuntimeError, chdb.ChdbError)
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
            self._session: Any = session.Session(path)  # type: ignore[no-untyped-call]
        except (OSError, RuntimeError) as exc:
            raise StoreError(
                f"cannot open chdb at {path} (is another process using it?): {_one_line(exc)}"
            ) from exc

    @property
    def target(self) -> str:
        return f"chdb:{self.path}"

    def _run(self, sql: str, fmt: str) -> Any:
        try:
            return self._session.query(sql, fmt)
        except self._errors as exc:
            raise StoreError(f"chdb at {self.path}: {_one_line(exc)}") from exc

    def execute(self, sql: str) -> None:
        self._run(sql, "CSV")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        table = self._run(sql, "ArrowTable")
        columns = [_pylist(table.column(i)) for i in range(table.num_columns)]
        return list(zip(*columns, strict=True)) if columns else []

    def columns(self, table: str) -> list[tuple[str, str]]:
        rows = self.query(f"DESCRIBE TABLE {_check_identifier(table)}")
        return [(str(r[0]), str(r[1])) for r in rows]

    def table_exists(self, table: str) -> bool:
        rows = self.query(_table_exists_sql(table))
        return bool(rows and rows[0][0])

    def insert(
        self, table: str, names: Sequence[str], types: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        from workers.store import arrow

        batch = arrow.ipc_stream(
            names, types, [normalise_column(t, v) for t, v in zip(types, data, strict=True)]
        )
        cols = ", ".join(_check_identifier(n) for n in names)
        try:
            with self._session.send_insert(
                f"INSERT INTO {_check_identifier(table)} ({cols})", "ArrowStream"
            ) as ins:
                ins.append(batch)
                ins.finish()
        except self._errors as exc:
            raise StoreError(f"chdb insert into {table} at {self.path}: {_one_line(exc)}") from exc
        return len(data[0]) if data else 0

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()


class DriverDatabase:
    """A clickhouse-server over the native protocol. Inserts are columnar."""

    def __init__(
        self, host: str, port: int, database: str, user: str = "default", password: str = "",
        timeout: float = 300.0,
    ) -> None:
        from clickhouse_driver import Client

        # The driver logs a traceback on every failed connect; the StoreError says it in one line.
        logging.getLogger("clickhouse_driver").addHandler(logging.NullHandler())
        self.host, self.port, self.database = host, port, _check_identifier(database)
        self._params: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "connect_timeout": 3,
            "send_receive_timeout": timeout,
        }
        # a short timeout for the first exchange: a server that accepts connections while it
        # starts or stops would otherwise hold the caller for send_receive_timeout
        self._admin = Client(database="default",
                             **{**self._params, "send_receive_timeout": min(10.0, timeout)})
        self._client = Client(database=self.database, **self._params)
        self.server_version = str(self._call(self._admin, "SELECT version()")[0][0])

    @property
    def target(self) -> str:
        return f"clickhouse://{self.host}:{self.port}/{self.database}"

    def _call(self, client: Any, sql: str, data: Any = None, columnar: bool = False) -> Any:
        from clickhouse_driver import errors

        try:
            if data is None:
                return client.execute(sql)
            return client.execute(sql, data, columnar=columnar)
        except (errors.NetworkError, errors.SocketTimeoutError, OSError, EOFError) as exc:
            client.disconnect()
            raise StoreError(
                f"clickhouse-server at {self.host}:{self.port} is not reachable: {_one_line(exc)}"
            ) from exc
        except errors.Error as exc:
            raise StoreError(
                f"clickhouse-server at {self.host}:{self.port}: {_one_line(exc)}"
            ) from exc

    def database_exists(self) -> bool:
        rows = self._call(
            self._admin, f"SELECT count() FROM system.databases WHERE name = '{self.database}'"
        )
        return bool(rows and rows[0][0])

    def create_database(self) -> None:
        self._call(self._admin, f"CREATE DATABASE IF NOT EXISTS {self.database}")

    def execute(self, sql: str) -> None:
        self._call(self._client, sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._call(self._client, sql)]

    def columns(self, table: str) -> list[tuple[str, str]]:
        rows = self._call(self._client, f"DESCRIBE TABLE {_check_identifier(table)}")
        return [(str(r[0]), str(r[1])) for r in rows]

    def table_exists(self, table: str) -> bool:
        if not self.database_exists():
            return False
        rows = self._call(self._client, _table_exists_sql(table))
        return bool(rows and rows[0][0])

    def insert(
        self, table: str, names: Sequence[str], types: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        cols = ", ".join(_check_identifier(n) for n in names)
        columns = [list(normalise_column(t, v)) for t, v in zip(types, data, strict=True)]
        self._call(
            self._client,
            f"INSERT INTO {_check_identifier(table)} ({cols}) VALUES",
            columns,
            columnar=True,
        )
        return len(data[0]) if data else 0

    def close(self) -> None:
        self._client.disconnect()
        self._admin.disconnect()


def parse_target(target: str) -> tuple[str, str, int, str]:
    """(kind, host or path, port, database) of a --db value, or StoreError for what is not one."""
    if not target:
        raise StoreError("empty --db: use a directory path (chdb) or clickhouse://host:port/db")
    if target.startswith("chdb:"):
        path = target[len("chdb:") :].removeprefix("//")
        if not path:
            raise StoreError("chdb: needs a path, e.g. chdb:./danescan-data")
        return "chdb", path, 0, ""
    if "://" not in target:
        return "chdb", target, 0, ""
    parts = urlsplit(target)
    if parts.scheme != "clickhouse":
        raise StoreError(
            f"unknown --db scheme {parts.scheme!r} in {target!r}: use a directory path (chdb) or clickhouse://host:port/db"
        )
    try:
        port = parts.port or CLICKHOUSE_PORT
    except ValueError as exc:
        raise StoreError(f"bad port in --db {target!r}") from exc
    database = parts.path.strip("/") or "default"
    if not IDENTIFIER.match(database):
        raise StoreError(f"bad database name {database!r} in --db {target!r}")
    return "clickhouse", parts.hostname or "127.0.0.1", port, database


def connect(target: str, timeout: float = 300.0) -> ChdbDatabase | DriverDatabase:
    """Open the database named by a --db value; StoreError (one line) when that is not possible.
    ``timeout``: the longest wait for one reply of a clickhouse-server (long analysis queries need
    minutes; a writer wants to notice a server that hangs while it restarts much sooner)."""
    kind, where, port, database = parse_target(target)
    if kind == "chdb":
        return ChdbDatabase(where)
    parts = urlsplit(target)
    return DriverDatabase(
        where, port, database, user=parts.username or "default", password=parts.password or "",
        timeout=timeout,
    )
