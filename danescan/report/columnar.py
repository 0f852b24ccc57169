"""Results as Arrow tables, written as Parquet or Arrow IPC files (pandas and polars read both:
``pandas.read_parquet``, ``pandas.read_feather``, ``polars.read_parquet``, ``polars.read_ipc``).

Column types follow the ClickHouse types of the result: integers keep their width and sign,
DateTime is a UTC timestamp in seconds, Array(T) a list; a column whose values do not fit its
declared type (or whose type is not mapped here) is left to Arrow's inference, and as text when
even that fails, so any result can be written.
"""

from __future__ import annotations

from typing import IO, Any

from queries.run import Result

_INTS = {"Int8": "int8", "Int16": "int16", "Int32": "int32", "Int64": "int64",
         "UInt8": "uint8", "UInt16": "uint16", "UInt32": "uint32", "UInt64": "uint64"}


def _strip(ch_type: str) -> str:
    for wrapper in ("Nullable(", "LowCardinality("):
        while ch_type.startswith(wrapper) and ch_type.endswith(")"):
            ch_type = ch_type[len(wrapper):-1]
    return ch_type


def arrow_type(ch_type: str) -> Any:
    """The Arrow type of a ClickHouse type, or None when it is left to inference."""
    import pyarrow as pa

    t = _strip(ch_type)
    if t in _INTS:
        return getattr(pa, _INTS[t])()
    if t in ("Float32", "Float64"):
        return pa.float64()
    if t == "String" or t.startswith("FixedString(") or t.startswith("Enum"):
        return pa.string()
    if t == "DateTime" or t.startswith("DateTime("):
        return pa.timestamp("s", tz="UTC")
    if t in ("Date", "Date32"):
        return pa.date32()
    if t.startswith("Array(") and t.endswith(")"):
        inner = arrow_type(t[len("Array("):-1])
        return None if inner is None else pa.list_(inner)
    return None


def _column(values: list[Any], ch_type: str) -> Any:
    import pyarrow as pa

    wanted = arrow_type(ch_type)
    for typ in (wanted, None):
        try:
            return pa.array(values, type=typ) if typ is not None else pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError,
                TypeError, ValueError):
            continue
    return pa.array([None if v is None else repr(v) if isinstance(v, bytes) else str(v)
                     for v in values], type=pa.string())


def to_arrow(result: Result) -> Any:
    """A pyarrow.Table of the result, with its column names (duplicates made unique)."""
    import pyarrow as pa

    names: list[str] = []
    for n in result.columns:
        name, k = n, 1
        while name in names:
            k += 1
            name = f"{n}_{k}"
        names.append(name)
    columns = [_column([r[i] for r in result.rows], t) for i, t in enumerate(result.types)]
    return pa.Table.from_arrays(columns, names=names)


def write(result: Result | Any, fmt: str, out: IO[bytes]) -> None:
    """Write a result (or a pyarrow.Table) to a binary file object as 'parquet' or 'arrow'
    (IPC file format)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = to_arrow(result) if isinstance(result, Result) else result
    if fmt == "parquet":
        pq.write_table(table, out)
    elif fmt == "arrow":
        with pa.ipc.new_file(out, table.schema) as writer:
            writer.write_table(table)
    else:
        raise ValueError(f"not a binary format: {fmt}")
