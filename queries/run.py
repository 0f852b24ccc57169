"""Run one analysis file on chdb or clickhouse-server, with real query parameters.

The result keeps column names and types, so the report can render and plot it. DateTime values
come back as timezone-aware ``datetime`` from both engines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queries.catalog import Query, QueryError, bind, get
from workers.store.backend import ChdbDatabase, Database, DriverDatabase, StoreError, sql_string

REQUIRED_TABLES = ("scans", "domains", "dns_rrsets", "tlsa_records", "starttls_probes",
                   "certificates", "dane_verdicts")


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
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _is_datetime(ch_type: str) -> bool:
    inner = ch_type.removeprefix("Nullable(")
    return inner.startswith("DateTime")


def _as_datetime(value: Any) -> Any:
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return _aware(value)


def _chdb_types(db: ChdbDatabase, sql: str, params: dict[str, Any]) -> dict[str, str]:
    """ClickHouse types of the result columns (chdb's Arrow output gives DateTime as UInt32)."""
    table = db._session.query(f"DESCRIBE ({sql})", "ArrowTable",
                              params={k: str(v) for k, v in params.items()})
    return dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))


def _run_chdb(db: ChdbDatabase, sql: str, params: dict[str, Any]) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    import chdb

    try:
        table = db._session.query(sql, "ArrowTable", params={k: str(v) for k, v in params.items()})
    except (RuntimeError, chdb.ChdbError) as exc:
        raise StoreError(f"chdb at {db.path}: {_one_line(exc)}") from exc
    import pyarrow as pa

    names = [str(n) for n in table.column_names]
    declared = _chdb_types(db, sql, params)
    types: list[str] = []
    columns: list[list[Any]] = []
    for i in range(table.num_columns):
        col = table.column(i)
        ch_type = declared.get(names[i], str(col.type))
        if pa.types.is_timestamp(col.type) or _is_datetime(ch_type):
            types.append("DateTime")
            columns.append([_as_datetime(v) for v in col.to_pylist()])
        else:
            types.append(ch_type)
            columns.append(list(col.to_pylist()))
    rows = list(zip(*columns, strict=True)) if columns else []
    return names, types, rows


def _run_server(db: DriverDatabase, sql: str, params: dict[str, Any]) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    from clickhouse_driver import Client, errors

    client = Client(database=db.database, settings={"server_side_params": True}, **db._params)
    try:
        rows, meta = client.execute(sql, params, with_column_types=True)
    except (errors.Error, OSError, EOFError) as exc:
        raise StoreError(f"clickhouse-server at {db.host}:{db.port}: {_one_line(exc)}") from exc
    finally:
        client.disconnect()
    names = [m[0] for m in meta]
    types = ["DateTime" if m[1].startswith("DateTime") else m[1] for m in meta]
    return names, types, [tuple(_aware(v) for v in r) for r in rows]


def execute(db: Database, query: Query | str, given: Mapping[str, Any] | None = None) -> Result:
    """Run one analysis file; QueryError for bad parameters, StoreError for the database."""
    q = get(query) if isinstance(query, str) else query
    params = bind(q, given or {})
    if isinstance(db, ChdbDatabase):
        names, types, rows = _run_chdb(db, q.sql, params)
    elif isinstance(db, DriverDatabase):
        names, types, rows = _run_server(db, q.sql, params)
    else:
        raise QueryError(f"cannot run query parameters on {type(db).__name__}")
    return Result(q.name, names, types, rows, params)


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

