"""Clamping into ClickHouse column ranges, with the flag that says a value moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from workers.store.ranges import INT_RANGES, clamp_datetime, clamp_int, epoch_of, flag


@pytest.mark.parametrize("ch_type", sorted(INT_RANGES))
def test_integers_inside_stay_and_outside_move_to_the_bound(ch_type: str) -> None:
    low, high = INT_RANGES[ch_type]
    assert clamp_int(low, ch_type) == (low, False)
    assert clamp_int(high, ch_type) == (high, False)
    assert clamp_int(high + 1, ch_type) == (high, True)
    assert clamp_int(low - 1, ch_type) == (low, True)
    assert clamp_int(10**30, ch_type) == (high, True)


def test_the_bounds_are_the_types() -> None:
    assert INT_RANGES["UInt16"] == (0, 65535)
    assert clamp_int(70_000, "UInt16") == (65535, True)
    assert clamp_int(70_000, "UInt32") == (70_000, False)
    assert clamp_int(-40_000, "Int16") == (-32768, True)
    assert clamp_int(-40_000, "Int32") == (-40_000, False)


def test_unknown_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="Float32"):
        clamp_int(1, "Float32")


def test_datetimes_outside_1970_2106_are_clamped() -> None:
    assert clamp_datetime(datetime(1970, 1, 1, tzinfo=UTC)) == (0, False)
    assert clamp_datetime(datetime(2024, 1, 1, tzinfo=UTC)) == (1704067200, False)
    assert clamp_datetime(datetime(1950, 1, 1, tzinfo=UTC)) == (0, True)
    assert clamp_datetime(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)) == (2**32 - 1, True)
    last = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=2**32 - 1)
    assert clamp_datetime(last) == (2**32 - 1, False)
    assert clamp_datetime(last + timedelta(seconds=1)) == (2**32 - 1, True)


def test_epoch_of_any_year_naive_is_utc() -> None:
    assert epoch_of(datetime(1969, 12, 31, 23, 59, 59)) == -1
    assert epoch_of(datetime(1, 1, 1, tzinfo=UTC)) == -62135596800
    assert epoch_of(datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == 1704067200


def test_flag_names_the_column_and_the_exact_value() -> None:
    when = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert flag("not_after", when) == "not_after=9999-12-31T23:59:59+00:00"
    assert flag("key_bits", 70_000) == "key_bits=70000"
