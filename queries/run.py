"""Run SQL on chdb or clickhouse-server, with real query parameters: one analysis file
(``execute``) or any SQL (``run_sql``), on a database opened by ``open_db``.

The result keeps column names and types, so the report can render and plot it. DateTime values
come back as timezone-aware ``datetime`` from both engines.

Read-only unless asked: ``open_db(target)`` sets ``readonly = 1`` on a chdb session (for its
lifetime), ``run_sql(..., write=False)`` sends ``readonly = 1`` with every query to a server and
refuses, before the engine sees it, a statement that is not SELECT / WITH / SHOW / DESCRIBE /
EXPLAIN / EXISTS.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from queries.catalog import PARAM, UINT_MAX, Query, QueryError, bind, convert, get
from queries.chdb_result import parquet_refused, parquet_types_datetime, read_parquet, type_name
from queries.sqltext import engine_message, inline_insert, refused_read_only, strip_comments
from workers import gc_tuning
from workers.store.backend import (
    ChdbDatabase,
    Database,
    DriverDatabase,
    StoreError,
    connect,
    parse_target,
    sql_string,
)
from workers.store.migrations import server_version

REQUIRED_TABLES = ("scans", "domains", "dns_rrsets", "tlsa_records", "starttls_probes",
                   "certificates", "dane_verdicts")
# the parameterized views that analysis files read (each shared rule once), by the migration that
# created them
ANALYSIS_VIEWS = {"domain_classes": "0013_analysis_views", "rollover_switches": "0013_analysis_views",
                  "class_rows": "0017_class_snapshots"}


@dataclass(frozen=True)
class Result:
    name: str
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    params: dict[str, Any]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split(" Stack trace")[0].split())
    return text[:400] if text else type(exc).__name__


def _aware(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


def _is_datetime(ch_type: str) -> bool:
    inner = ch_type.removeprefix("Nullable(")
    return inner.startswith("DateTime")


def _as_datetime(value: Any) -> Any:
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return _aware(value)


class SqlError(QueryError):
    """The engine refused the SQL (syntax, unknown name, read-only): its message, one line."""


def _chdb_types(db: ChdbDatabase, sql: str, params: dict[str, Any]) -> dict[str, str]:
    """ClickHouse types of the result columns (chdb's Arrow output gives DateTime as UInt32);
    empty for what DESCRIBE cannot wrap (SHOW, EXPLAIN): the Arrow types stand then."""
    import chdb

    try:
        table = db._session.query(f"DESCRIBE ({sql})", "ArrowTable",
                                  params={k: str(v) for k, v in params.items()})
    except (RuntimeError, chdb.ChdbError):
        return {}
    if table.num_columns < 2:
        return {}
    return dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))


def _chdb_table(db: ChdbDatabase, sql: str, params: dict[str, Any],
                adhoc: bool = False) -> tuple[Any, dict[str, str]]:
    """The result as a pyarrow Table, with the ClickHouse types of its columns when they had to
    be asked for (empty when the Table's own types say them): see queries/chdb_result.py."""
    import chdb

    text = {k: str(v) for k, v in params.items()}

    def failed(exc: Exception) -> Exception:
        if adhoc:
            return SqlError(engine_message(str(exc), sql))
        return StoreError(f"chdb at {db.path}: {_one_line(exc)}")

    if parquet_types_datetime(lambda: db.query("SELECT version()")[0][0]):
        try:
            table = read_parquet(db._session.query(sql, "Parquet", params=text).bytes())
        except (RuntimeError, chdb.ChdbError) as exc:
            if not parquet_refused(str(exc)):
                raise failed(exc) from exc
            table = None
        if table is not None:
            return table, {}
    try:
        table = db._session.query(sql, "ArrowTable", params=text)
    except (RuntimeError, chdb.ChdbError) as exc:
        raise failed(exc) from exc
    return table, _chdb_types(db, sql, params)


def _run_chdb(db: ChdbDatabase, sql: str, params: dict[str, Any],
              adhoc: bool = False) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    import pyarrow as pa

    table, declared = _chdb_table(db, sql, params, adhoc)
    names = [str(n) for n in table.column_names]
    types: list[str] = []
    columns: list[list[Any]] = []
    with gc_tuning.paused():
        for i, field in enumerate(table.schema):
            col = table.column(i)
            ch_type = declared.get(names[i]) or type_name(field.type, field.nullable)
            if pa.types.is_timestamp(col.type) or _is_datetime(ch_type):
                types.append("DateTime")
                columns.append([_as_datetime(v) for v in col.to_pylist()])
            else:
                types.append(ch_type)
                columns.append(_values(col))
        rows = list(zip(*columns, strict=True)) if columns else []
    return names, types, rows


def _values(col: Any) -> list[Any]:
    """An Arrow column as Python values; a String that is not UTF-8 (a certificate's DER) as
    bytes, as clickhouse-driver gives it."""
    import pyarrow as pa

    if pa.types.is_binary(col.type):  # an Enum through Parquet
        return [v if v is None else _text(v) for v in col.to_pylist()]
    try:
        return list(col.to_pylist())
    except UnicodeDecodeError:
        return [v if v is None else _text(v) for v in col.cast(pa.binary()).to_pylist()]


def _text(raw: bytes) -> str | bytes:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _run_server(db: DriverDatabase, sql: str, params: dict[str, Any], adhoc: bool = False,
                readonly: bool = False) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    from clickhouse_driver import Client, errors

    settings: dict[str, Any] = {"server_side_params": True}
    if readonly:
        settings["readonly"] = 1
    client = Client(database=db.database, settings=settings, **db._params)
    try:
        with gc_tuning.paused():
            rows, meta = client.execute(sql, params or None, with_column_types=True)
    except errors.ServerException as exc:
        if adhoc:
            raise SqlError(engine_message(str(exc), sql)) from exc
        raise StoreError(f"clickhouse-server at {db.host}:{db.port}: {_one_line(exc)}") from exc
    except (errors.Error, OSError, EOFError) as exc:
        raise StoreError(f"clickhouse-server at {db.host}:{db.port}: {_one_line(exc)}") from exc
    finally:
        client.disconnect()
    names = [m[0] for m in meta]
    types = ["DateTime" if m[1].startswith("DateTime") else m[1] for m in meta]
    with gc_tuning.paused():
        return names, types, [tuple(_aware(v) for v in r) for r in rows]


def execute(db: Database, query: Query | str, given: Mapping[str, Any] | None = None) -> Result:
    """Run one analysis file; QueryError for bad parameters, StoreError for the database."""
    q = get(query) if isinstance(query, str) else query
    params = bind(q, given or {})
    sql = strip_comments(q.sql)
    views = [v for v in ANALYSIS_VIEWS if re.search(rf"\b{v}\s*\(", sql)]
    if views and isinstance(db, (ChdbDatabase, DriverDatabase)):
        missing = [v for v in views if not db.table_exists(v)]
        if missing:
            raise QueryError(f"{db.target} has no view {missing[0]} (migration"
                             f" {ANALYSIS_VIEWS[missing[0]]}),"
                             f" which {q.name} reads: run `danescan migrate --db ...` on it; the"
                             " views need chdb or clickhouse-server 23.1 or newer")
    if isinstance(db, ChdbDatabase):
        names, types, rows = _run_chdb(db, q.sql, params)
    elif isinstance(db, DriverDatabase):
        names, types, rows = _run_server(db, q.sql, params)
    else:
        raise QueryError(f"cannot run query parameters on {type(db).__name__}")
    return Result(q.name, names, types, rows, params)


def open_db(target: str, write: bool = False, settings: bool = False) -> ChdbDatabase | DriverDatabase:
    """The database of a --db value, read-only unless ``write``: StoreError or QueryError (one
    line) when it cannot be opened. A chdb directory must exist (nothing is created to read).
    ``settings``: queries may still change settings (``readonly = 2``, for the analysis files of
    queries/, which may carry a SETTINGS clause); else ``readonly = 1``, as ``danescan sql``."""
    kind, where, _, _ = parse_target(target)
    if kind == "chdb" and not Path(where).is_dir():
        raise QueryError(f"no database at {where}: run a scan first or give --db")
    db = connect(target)
    if isinstance(db, ChdbDatabase) and not write:
        try:
            db.execute(f"SET readonly = {2 if settings else 1}")
        except StoreError:
            db.close()
            raise
    return db


def sql_params(sql: str, given: Mapping[str, str]) -> dict[str, Any]:
    """The values of the ``{name:Type}`` placeholders of ``sql`` from ``given`` (command-line
    strings), checked where catalog.convert knows the type, else handed to the engine as given;
    QueryError for one missing, one given that the SQL does not take, or a bad value."""
    wanted: dict[str, str] = {}
    for m in PARAM.finditer(strip_comments(sql)):
        wanted.setdefault(m.group("name"), m.group("type"))
    unknown = sorted(set(given) - set(wanted))
    if unknown:
        takes = ", ".join(f"{k}:{t}" for k, t in wanted.items()) or "none"
        raise QueryError(f"the SQL has no parameter {unknown[0]!r} (it takes: {takes})")
    out: dict[str, Any] = {}
    for name, ch_type in wanted.items():
        if name not in given:
            raise QueryError(f"the SQL needs --param {name}=<{ch_type}>")
        checked = ch_type in UINT_MAX or ch_type == "String" or ch_type.startswith("DateTime")
        out[name] = convert(name, ch_type, given[name]) if checked else given[name]
    return out


def _checked(db: Database, sql: str, given: Mapping[str, str] | None,
             write: bool) -> dict[str, Any]:
    """The refusals of run_sql that come before the engine; the checked parameters."""
    refused = "" if write else refused_read_only(sql)
    if refused == "INTO OUTFILE":
        raise QueryError("INTO OUTFILE writes a file: without --write, give -o FILE instead")
    if refused:
        raise QueryError(f"{refused} would change the database: without --write only SELECT, "
                         "WITH, SHOW, DESCRIBE, EXPLAIN and EXISTS run")
    params = sql_params(sql, given or {})
    if isinstance(db, DriverDatabase):
        if params and (server_version(db) or (0, 0)) < (19, 0):
            raise QueryError(f"clickhouse-server {db.server_version} at {db.host}:{db.port} does not "
                             "know query parameters ({name:Type}): write the values into the SQL")
        if inline_insert(sql):
            raise QueryError("INSERT ... VALUES cannot be sent to a clickhouse-server this way "
                             "(its native protocol takes rows apart from the statement): write "
                             "INSERT INTO t SELECT ... instead")
    elif not isinstance(db, ChdbDatabase):
        raise QueryError(f"cannot run SQL on {type(db).__name__}")
    return params


def run_sql(db: Database, sql: str, given: Mapping[str, str] | None = None, write: bool = False,
            name: str = "sql") -> Result:
    """Run one statement of any SQL with ClickHouse query parameters (``given``: name -> text).
    Read-only unless ``write``; SqlError (the engine's message, one line, with the line and
    column when it gives a position) for SQL it refuses, QueryError for refused statements and
    bad parameters, StoreError when the database cannot be reached."""
    params = _checked(db, sql, given, write)
    if isinstance(db, ChdbDatabase):
        names, types, rows = _run_chdb(db, sql, params, adhoc=True)
    else:
        assert isinstance(db, DriverDatabase)
        names, types, rows = _run_server(db, sql, params, adhoc=True, readonly=not write)
    return Result(name, names, types, rows, params)


def run_sql_arrow(db: ChdbDatabase, sql: str, given: Mapping[str, str] | None = None,
                  write: bool = False) -> Any:
    """run_sql on chdb straight to a pyarrow.Table, without Python rows (for Parquet and Arrow
    files of millions of rows): DateTime columns as UTC timestamps (in seconds when every value is
    a whole second, as DateTime's are), a String column that is not UTF-8 as binary."""
    import pyarrow as pa

    params = _checked(db, sql, given, write)
    table, declared = _chdb_table(db, sql, params, adhoc=True)
    columns = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        ch_type = declared.get(str(name), "")
        if _is_datetime(ch_type) and pa.types.is_integer(col.type):
            col = col.cast(pa.int64()).cast(pa.timestamp("s", tz="UTC"))
        elif pa.types.is_timestamp(col.type) and col.type.unit != "s":
            # DateTime through Parquet comes in milliseconds; DateTime64 keeps its fractions
            with contextlib.suppress(pa.ArrowInvalid):
                col = col.cast(pa.timestamp("s", tz="UTC"))
        elif pa.types.is_string(col.type):
            try:
                col.validate(full=True)
            except pa.ArrowInvalid:
                col = col.cast(pa.binary())
        columns.append(col)
    return pa.Table.from_arrays(columns, names=[str(n) for n in table.column_names])


def check_schema(db: Database) -> None:
    """QueryError (one line) when the database holds no danescan tables or no scan at all."""
    missing = [t for t in REQUIRED_TABLES if not db.table_exists(t)]
    if missing:
        raise QueryError(f"{db.target} has no danescan tables ({', '.join(missing)} missing): "
                         "run 'danescan migrate' and a scan first")
    if not db.query("SELECT count() FROM scans")[0][0]:
        raise QueryError(f"{db.target} holds no scan yet: run 'danescan scan' first")


def check_scan(db: Database, scan_id: str) -> None:
    rows = db.query("SELECT scan_id FROM scans FINAL ORDER BY started_at DESC LIMIT 5")
    if not any(True for _ in db.query(
            f"SELECT 1 FROM scans WHERE scan_id = {sql_string(scan_id)} LIMIT 1")):
        recent = ", ".join(str(r[0]) for r in rows)
        raise QueryError(f"unknown scan id {scan_id!r} (latest: {recent})")

