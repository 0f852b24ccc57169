"""The ranges of ClickHouse column types, and clamping into them with a flag. Pure.

A value from the network that does not fit its column must never make a write fail: either the
column is wide enough by construction (queries/migrations/0009_evidence_ranges.sql lists each
column with its bound), or the value is clamped here and the row records the exact value in its
``clamped`` column as ``'column=value'``.
"""

from __future__ import annotations

from datetime import UTC, datetime

INT_RANGES: dict[str, tuple[int, int]] = {
    "UInt8": (0, 2**8 - 1),
    "UInt16": (0, 2**16 - 1),
    "UInt32": (0, 2**32 - 1),
    "UInt64": (0, 2**64 - 1),
    "Int8": (-(2**7), 2**7 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "Int64": (-(2**63), 2**63 - 1),
}
DATETIME_RANGE = (0, 2**32 - 1)  # DateTime: seconds since the epoch, 1970-01-01 .. 2106-02-07


def clamp_int(value: int, ch_type: str) -> tuple[int, bool]:
    """``value`` within the range of the integer type ``ch_type``, and whether it had to move."""
    try:
        low, high = INT_RANGES[ch_type]
    except KeyError:
        raise ValueError(f"not a ClickHouse integer type: {ch_type}") from None
    kept = min(max(value, low), high)
    return kept, kept != value


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_of(when: datetime) -> int:
    """Whole seconds since the epoch, rounded down (a naive datetime is UTC), for any year
    datetime holds (0001..9999; ``timestamp()`` fails on some platforms before 1970)."""
    delta = (when if when.tzinfo is not None else when.replace(tzinfo=UTC)) - EPOCH
    return delta.days * 86400 + delta.seconds


def clamp_datetime(when: datetime) -> tuple[int, bool]:
    """A DateTime column value (epoch seconds) for ``when``, and whether it had to move."""
    seconds = epoch_of(when)
    low, high = DATETIME_RANGE
    kept = min(max(seconds, low), high)
    return kept, kept != seconds


def flag(column: str, exact: object) -> str:
    """The ``clamped`` entry for a column whose value was clamped: its name and exact value."""
    text = exact.isoformat() if isinstance(exact, datetime) else str(exact)
    return f"{column}={text}"
