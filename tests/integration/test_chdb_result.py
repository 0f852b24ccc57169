"""A chdb result read through queries/chdb_result.py, on a real chdb directory: one query per
result (the SQL analysed once: no DESCRIBE beside it), DateTime as aware UTC datetimes, and
every type Parquet cannot hold read the older way, with the same values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from queries.run import open_db, run_sql, run_sql_arrow
from workers.store.backend import ChdbDatabase, connect


class CountingSession:
    """The database's real chdb session, with the statements it was asked counted."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.asked: list[str] = []

    def query(self, sql: str, fmt: str = "CSV", **kw: Any) -> Any:
        self.asked.append(sql)
        return self.session.query(sql, fmt, **kw)


@pytest.fixture
def db(tmp_path: Path) -> Any:
    target = str(tmp_path / "db")
    made = connect(target)
    made.execute("CREATE TABLE t (at DateTime('UTC'), n UInt32, e Enum8('on' = 1, 'off' = 2)) "
                 "ENGINE = MergeTree ORDER BY at")
    made.execute("INSERT INTO t VALUES ('2026-03-01 12:00:00', 7, 'off'), ('2026-03-02 00:00:01', 8, 'on')")
    made.close()
    opened = open_db(target, write=True)
    assert isinstance(opened, ChdbDatabase)
    counting = CountingSession(opened._session)
    opened._session = counting
    yield opened, counting
    opened._session = counting.session
    opened.close()


def test_a_datetime_column_is_told_from_a_number_with_one_query(db: Any) -> None:
    opened, counting = db
    r = run_sql(opened, "SELECT at, n, e FROM t ORDER BY at")
    assert len(counting.asked) == 1, counting.asked  # no DESCRIBE: the SQL analysed once
    assert r.types == ["DateTime", "UInt32", "String"]
    assert r.rows == [(dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC), 7, "off"),
                      (dt.datetime(2026, 3, 2, 0, 0, 1, tzinfo=dt.UTC), 8, "on")]
    assert all(row[0].tzinfo is dt.UTC for row in r.rows)


def test_types_parquet_cannot_hold_are_read_as_before(db: Any) -> None:
    opened, counting = db
    r = run_sql(opened, "SELECT NULL AS nothing, [] AS empty, toIntervalDay(2) AS days, "
                        "max(at) AS last FROM t")
    # Parquet refused the result; Arrow and DESCRIBE read it
    assert any(q.startswith("DESCRIBE") for q in counting.asked), counting.asked
    assert r.columns == ["nothing", "empty", "days", "last"]
    assert r.rows == [(None, [], 2, dt.datetime(2026, 3, 2, 0, 0, 1, tzinfo=dt.UTC))]
    assert r.types[3] == "DateTime"


def test_duplicate_names_no_result_and_a_format_clause(db: Any) -> None:
    opened, _ = db
    assert run_sql(opened, "SELECT 1, 1").rows == [(1, 1)]
    made = run_sql(opened, "CREATE TABLE u (a UInt8) ENGINE = Memory", write=True)
    assert made.columns == [] and made.rows == []
    assert run_sql(opened, "SELECT count() FROM u").rows == [(0,)]


def test_arrow_files_keep_datetime_in_seconds_and_datetime64_fractions(db: Any) -> None:
    import pyarrow as pa

    opened, _ = db
    table = run_sql_arrow(opened, "SELECT at, addMilliseconds(toDateTime64(at, 3), 250) AS precise, "
                                  "n FROM t ORDER BY at")
    assert table.schema.field("at").type == pa.timestamp("s", tz="UTC")
    assert table.schema.field("precise").type == pa.timestamp("ms", tz="UTC")
    assert table.column("precise").to_pylist()[0].microsecond == 250_000
    assert table.column("n").to_pylist() == [7, 8]
