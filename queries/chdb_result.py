"""A chdb result as a pyarrow Table whose columns say their types, with the query analysed once.

chdb's Arrow output gives a DateTime column as UInt32, so telling a time from a number took a
second query (``DESCRIBE (sql)``), which analyses and plans the SQL again: 0.4-0.6 s of the
rollover queries' 1.5 s at 10 million verdict rows. Its Parquet output types DateTime as a UTC
timestamp, so the result is read through Parquet. Parquet holds no column of type Nothing (a
bare NULL, an empty array), Interval, Time or BFloat16; such a result, and anything that is not
Parquet (a FORMAT clause of the SQL), is read through Arrow and DESCRIBE as before; so is every
result of an engine older than ClickHouse 25.1, whose Parquet output still writes DateTime as
UInt32 (the change is ClickHouse's #70950; pyproject allows chdb 3).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

_ENGINE: list[tuple[int, int]] = []  # this process's chdb engine version, once known
_NAMES = {"int8": "Int8", "int16": "Int16", "int32": "Int32", "int64": "Int64",
          "uint8": "UInt8", "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64",
          "float": "Float32", "double": "Float64", "bool": "Bool", "string": "String",
          "large_string": "String", "binary": "String", "large_binary": "String",
          "date32[day]": "Date"}


def parquet_types_datetime(version_of: Callable[[], Any]) -> bool:
    """This process's chdb engine writes DateTime to Parquet as a timestamp (ClickHouse 25.1 or
    newer). ``version_of()`` gives the engine's version text when chdb does not say it."""
    if not _ENGINE:
        import chdb

        text = str(getattr(chdb, "engine_version", "") or version_of())
        parts = [int(p) if p.isdigit() else 0 for p in [*text.split("."), "0", "0"][:2]]
        _ENGINE.append((parts[0], parts[1]))
    return _ENGINE[0] >= (25, 1)


def parquet_refused(message: str) -> bool:
    """The engine could not write the result as Parquet (a column type Parquet does not hold)."""
    return "UNKNOWN_TYPE" in message and "Parquet" in message


def read_parquet(raw: bytes) -> Any | None:
    """The Table of chdb's Parquet output; an empty Table for a statement without a result (DDL,
    INSERT, SET); None when the bytes are not Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not raw:
        return pa.table({})
    try:
        return pq.ParquetFile(io.BytesIO(raw)).read()  # read_table refuses duplicate names
    except (pa.ArrowException, OSError):
        return None


def type_name(arrow_type: Any, nullable: bool = False) -> str:
    """The ClickHouse name of a column's Arrow type as chdb's Parquet output writes it: the
    type's family and width (LowCardinality and the time zone are not kept; any timestamp is
    DateTime)."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_timestamp(t):
        name = "DateTime"
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"Array({type_name(t.value_type, t.value_field.nullable)})"
    elif pa.types.is_map(t):
        return f"Map({type_name(t.key_type)}, {type_name(t.item_type, t.item_field.nullable)})"
    elif pa.types.is_struct(t):
        inner = ", ".join(type_name(t.field(i).type, t.field(i).nullable) for i in range(t.num_fields))
        name = f"Tuple({inner})"
    elif pa.types.is_decimal(t):
        name = f"Decimal({t.precision}, {t.scale})"
    elif pa.types.is_fixed_size_binary(t):
        name = f"FixedString({t.byte_width})"
    else:
        name = _NAMES.get(str(t), str(t))
    return f"Nullable({name})" if nullable else name
