"""Storing each snapshot's rows at its scan's close (workers/store/snapshots.py, migrations 0014 to
0017): which scans are stored, a scan closed again is stored again, and a database without the
snapshot tables is left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.store.backend import connect
from workers.store.migrations import Migrator, discover
from workers.store.snapshots import derive, derive_closed, unstored

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


def test_migration_0017_stores_the_classes_of_scans_stored_before_it(tmp_path: Path) -> None:
    """Scans stored at 0016 (no class tables: their snapshot rows are stored without classes):
    0017 stores the classes of those stored at the methodology's threshold, with their
    derivation's version, and class_rows reads them; a scan stored at another threshold is
    classified from its raw rows."""
    db = connect(str(tmp_path / "db"))
    try:
        Migrator(db, [m for m in discover() if m.version <= 16]).apply()
        for sid in ("a", "b"):
            _scan(db, sid, True, 1)
            db.execute("INSERT INTO domains (scan_id, domain, tld, ns, mx, registered, mx_registered, "
                       f"ns_registered, mx_dnssec_status, version) VALUES ('{sid}', 'x.org', 'org', "
                       "['ns.x.org'], ['mail.x.org'], 'x.org', ['x.org'], ['x.org'], 'secure', 1)")
            db.execute("INSERT INTO dane_verdicts (scan_id, mx_host, ip, valid, reason, rfc_outcome, version) "
                       f"VALUES ('{sid}', 'mail.x.org', '', 0, 'wrong-digest', 'defer', 1)")
        assert derive(db, "a") and derive(db, "b", threshold=60)
        Migrator(db, discover()).apply()
        assert db.query("SELECT c.scan_id, c.domain, c.class, c.valid, c.reason FROM class_snapshots AS c "
                        "INNER JOIN derived_scans AS d ON d.scan_id = c.scan_id AND d.version = c.version") == [
            ("a", "x.org", "SSDS", 0, "wrong-digest")]
        assert db.query("SELECT scan_id FROM class_sets") == [("a",)]
        for sid in ("a", "b"):
            assert db.query(f"SELECT domain, class, reason FROM class_rows(scans = ['{sid}'], threshold = 50)") == [
                ("x.org", "SSDS", "wrong-digest")]
        db.execute("TRUNCATE TABLE class_snapshots")  # a's answer was read from its stored rows, b's not
        assert db.query("SELECT scan_id FROM class_rows(scans = ['a', 'b'], threshold = 50)") == [("b",)]
    finally:
        db.close()
