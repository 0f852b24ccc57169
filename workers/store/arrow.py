"""Columns to an Arrow IPC stream, typed from the ClickHouse column types (for chdb inserts).

Values are expected already normalised by ``backend.normalise_column`` (DateTime as epoch seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_INTS = {
    "UInt8": "uint8",
    "UInt16": "uint16",
    "UInt32": "uint32",
    "UInt64": "uint64",
    "Int8": "int8",
    "Int16": "int16",
    "Int32": "int32",
    "Int64": "int64",
    "Float32": "float32",
    "Float64": "float64",
}


def arrow_type(ch_type: str, sample: Any = None) -> Any:
    """The pyarrow type for a ClickHouse type; String is binary when the values are bytes."""
    import pyarrow as pa

    if ch_type.startswith("Nullable(") and ch_type.endswith(")"):
        return arrow_type(ch_type[len("Nullable(") : -1], sample)
    if ch_type.startswith("LowCardinality(") and ch_type.endswith(")"):
        return arrow_type(ch_type[len("LowCardinality(") : -1], sample)
    if ch_type in _INTS:
        return getattr(pa, _INTS[ch_type])()
    if ch_type == "DateTime" or ch_type.startswith("DateTime("):
        return pa.uint32()
    if ch_type == "Date":
        return pa.date32()
    if ch_type == "String" or ch_type.startswith("FixedString("):
        return pa.binary() if isinstance(sample, bytes | bytearray) else pa.string()
    if ch_type.startswith("Array(") and ch_type.endswith(")"):
        inner_sample = sample[0] if isinstance(sample, list | tuple) and sample else None
        return pa.list_(arrow_type(ch_type[len("Array(") : -1], inner_sample))
    raise ValueError(f"no Arrow mapping for ClickHouse type {ch_type}")


def _sample(values: Sequence[Any]) -> Any:
    for v in values:
        if v is not None and not (isinstance(v, list | tuple) and not v):
            return v
    return None


def ipc_stream(names: Sequence[str], types: Sequence[str], data: Sequence[Sequence[Any]]) -> bytes:
    """One Arrow IPC stream holding the columns as a single record batch."""
    import pyarrow as pa

    arrays = []
    for ch_type, values in zip(types, data, strict=True):
        arrays.append(pa.array(values, type=arrow_type(ch_type, _sample(values))))
    table = pa.Table.from_arrays(arrays, names=list(names))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())
