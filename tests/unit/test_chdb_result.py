"""The pure parts of reading a chdb result through Parquet: type names, refusals, bytes."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from queries.chdb_result import parquet_refused, read_parquet, type_name


def test_type_names_follow_clickhouse() -> None:
    assert type_name(pa.uint32()) == "UInt32"
    assert type_name(pa.int64(), nullable=True) == "Nullable(Int64)"
    assert type_name(pa.timestamp("ms", tz="UTC")) == "DateTime"
    assert type_name(pa.timestamp("ms", tz="UTC"), nullable=True) == "Nullable(DateTime)"
    assert type_name(pa.list_(pa.field("x", pa.string(), nullable=False))) == "Array(String)"
    assert type_name(pa.list_(pa.uint16())) == "Array(Nullable(UInt16))"
    assert type_name(pa.date32()) == "Date"
    assert type_name(pa.decimal128(18, 2)) == "Decimal(18, 2)"
    assert type_name(pa.binary(16)) == "FixedString(16)"
    assert type_name(pa.float64()) == "Float64"
    assert type_name(pa.bool_()) == "Bool"


def test_the_refusal_that_sends_a_result_through_arrow() -> None:
    refused = ("Code: 50. DB::Exception: Internal type 'Nothing' of column 'c' is not supported "
               "for conversion into Parquet data format. (UNKNOWN_TYPE) (version 26.9.2.1)")
    assert parquet_refused(refused)
    assert not parquet_refused("Code: 62. DB::Exception: Syntax error: failed at position 8")
    assert not parquet_refused("Code: 50. DB::Exception: Unknown data type family: Strin. (UNKNOWN_TYPE)")


def test_bytes_read_as_a_table_or_refused() -> None:
    out = io.BytesIO()
    pq.write_table(pa.table({"a": [1, 2]}), out)
    assert read_parquet(out.getvalue()).column("a").to_pylist() == [1, 2]
    assert read_parquet(b"").num_columns == 0  # a statement without a result
    assert read_parquet(b"a,b\n1,2\n") is None  # a FORMAT clause: not Parquet


def test_an_engine_older_than_25_1_is_read_the_older_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """ClickHouse before 25.1 writes DateTime to Parquet as UInt32: no telling it from a number."""
    import chdb

    from queries import chdb_result

    for text, newer in (("24.8.4.13", False), ("25.1.1.1", True), ("26.9.2.1", True)):
        monkeypatch.setattr(chdb_result, "_ENGINE", [])
        monkeypatch.setattr(chdb, "engine_version", text, raising=False)
        assert chdb_result.parquet_types_datetime(lambda: "0.0") is newer, text
    monkeypatch.setattr(chdb_result, "_ENGINE", [])
    monkeypatch.delattr(chdb, "engine_version", raising=False)
    assert chdb_result.parquet_types_datetime(lambda: "24.3.1") is False  # asked of the engine
