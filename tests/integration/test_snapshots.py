"""Storing each snapshot's rows at its scan's close (workers/store/snapshots.py, migrations 0014 and
0015): which scans are stored, a scan closed again is stored again, and a database without the
snapshot tables is left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.store.backend import connect
from workers.store.migrations import Migrator, discover
from workers.store.snapshots import derive_closed, unstored

pytestmark = pytest.mark.clickhouse


def _scan(db: object, scan_id: str, finished: bool, version: int) -> None:
    finished_at = "toDateTime('2026-03-01 11:00:00', 'UTC')" if finished else "toDateTime(0)"
    db.execute(  # type: ignore[attr-defined]
        "INSERT INTO scans (scan_id, kind, started_at, finished_at, status, version) VALUES "
        f"('{scan_id}', 'hourly', toDateTime('2026-03-01 10:00:00', 'UTC'), {finished_at}, "
        f"'{'finished' if finished else 'running'}', {version})")


def test_closed_scans_are_stored_once_and_again_when_closed_again(tmp_path: Path) -> None:
    db = connect(str(tmp_path / "db"))
    try:
        Migrator(db, discover()).apply()
        _scan(db, "a", True, 1)
        _scan(db, "b", False, 1)  # still running: its rows are read raw
        _scan(db, "c", True, 1)
        assert unstored(db) == ["a", "c"]
        assert derive_closed(db)
        assert unstored(db) == []
        assert sorted(r[0] for r in db.query("SELECT scan_id FROM derived_scans FINAL")) == ["a", "c"]
        _scan(db, "a", True, 2)  # resumed and closed again: a new scans row
        _scan(db, "b", True, 2)  # b closes
        assert unstored(db) == ["a", "b"]
        assert derive_closed(db)
        assert unstored(db) == []
        assert db.query("SELECT scan_version FROM derived_scans FINAL WHERE scan_id = 'a'") == [(2,)]
    finally:
        db.close()


@pytest.mark.parametrize("below", [14, 15])
def test_a_database_without_the_snapshot_tables_is_left_alone(tmp_path: Path, below: int) -> None:
    """Before 0014 there is nothing to store into; at 0014 the leaf rows renewals reads have no
    table yet, so no scan is recorded as stored (it would be read without its leaves)."""
    db = connect(str(tmp_path / "db"))
    try:
        Migrator(db, [m for m in discover() if m.version < below]).apply()
        _scan(db, "a", True, 1)
        assert not derive_closed(db)
        assert not db.table_exists("derived_scans") or not db.query("SELECT * FROM derived_scans")
    finally:
        db.close()


def test_chain_changes_that_could_not_be_stored_are_stored_at_the_next_close(tmp_path: Path) -> None:
    """Storing a close's chain changes fails (migration 0016's table is away): its snapshot rows
    stay stored, and the next close stores the changes of both scans."""
    db = connect(str(tmp_path / "db"))
    try:
        Migrator(db, discover()).apply()
        _scan(db, "a", True, 1)
        db.execute("RENAME TABLE chain_changes TO chain_changes_away")
        assert derive_closed(db)
        assert unstored(db) == []  # the snapshot rows are stored
        assert db.query("SELECT count() FROM chain_change_sets") == [(0,)]
        db.execute("RENAME TABLE chain_changes_away TO chain_changes")
        db.execute("INSERT INTO scans (scan_id, kind, started_at, finished_at, status, version) VALUES "
                   "('b', 'hourly', toDateTime('2026-03-01 11:00:00', 'UTC'), "
                   "toDateTime('2026-03-01 12:00:00', 'UTC'), 'finished', 1)")
        assert derive_closed(db)
        current = db.query("SELECT scan_id FROM current_change_sets(until = toDateTime('2026-03-02 00:00:00', 'UTC')) "
                           "ORDER BY scan_id")
        assert current == [("a",), ("b",)]
    finally:
        db.close()
