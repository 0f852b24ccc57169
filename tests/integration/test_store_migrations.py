"""Migrations on chdb and on a real clickhouse-server 18.16: apply, re-apply, refuse, dry-run, roll back;
a migration that requires a newer ClickHouse (the analysis views) waits on 18.16."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from danescan.store_cli import migrate
from workers.store.backend import ChdbDatabase, DriverDatabase, connect
from workers.store.migrations import (
    MIGRATIONS_DIR,
    TABLE,
    MigrationError,
    Migrator,
    discover,
    server_version,
    too_old,
)
from workers.store.rows import ROW_TYPES, WRITER_COLUMNS, row_fields
from workers.store.snapshots import CHANGE_TABLES, CLASS_TABLES
from workers.store.snapshots import TABLES as SNAPSHOT_TABLES

pytestmark = pytest.mark.clickhouse

TABLES = sorted(t.TABLE for t in ROW_TYPES)
# 0013 to 0017, ClickHouse 23.1 or chdb: the parameterized views, and the snapshot tables (with
# the materialized views that fill host_chains and host_leaves) that the views fill and read
VIEWS = ["domain_classes", "rollover_switches", "probe_snapshots_of", "tlsa_snapshots_of",
         "host_classes_of", "leaf_snapshots_of", "stored_scans", *SNAPSHOT_TABLES, "host_chains",
         "host_chains_mv", "host_leaves", "host_leaves_mv", "stored_sequence", "chain_changes_of",
         "current_change_sets",
         *CHANGE_TABLES, "class_snapshots_of", "class_rows", *CLASS_TABLES]


def runs_here(db: ChdbDatabase | DriverDatabase) -> list[int]:
    """The versions this database can take (not those needing a newer server)."""
    return [m.version for m in discover() if not too_old(m, server_version(db))]


@pytest.fixture
def db(db_target: str) -> Iterator[ChdbDatabase | DriverDatabase]:
    database = connect(db_target)
    yield database
    database.close()


def tables(db: ChdbDatabase | DriverDatabase) -> list[str]:
    if isinstance(db, DriverDatabase) and not db.database_exists():
        return []
    rows = db.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name"
    )
    return [str(r[0]) for r in rows]


def copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def test_apply_twice_is_idempotent(db: ChdbDatabase | DriverDatabase) -> None:
    first = Migrator(db).apply()
    old_server = isinstance(db, DriverDatabase) and server_version(db) < (23, 1)
    assert [m.version for m in first] == runs_here(db)
    assert (len(runs_here(db)) < len(discover())) == old_server
    assert sorted(tables(db)) == sorted([*TABLES, TABLE, *([] if old_server else VIEWS)])
    assert Migrator(db).apply() == []
    states = {s.name: s.state for s in Migrator(db).status()}
    for newer in ("analysis_views", "snapshot_tables", "leaf_snapshots", "chain_changes", "class_snapshots"):
        assert states.pop(newer) == ("needs-clickhouse-23.1" if old_server else "applied")
    assert set(states.values()) == {"applied"}
    recorded = db.query(
        f"SELECT version, checksum FROM {TABLE} FINAL WHERE applied = 1 ORDER BY version"
    )
    assert [(int(v), str(c)) for v, c in recorded] == [
        (m.version, m.checksum) for m in discover() if m.version in runs_here(db)]


def test_row_types_match_table_columns(db: ChdbDatabase | DriverDatabase) -> None:
    Migrator(db).apply()
    for row_type in ROW_TYPES:
        columns = {name for name, _ in db.columns(row_type.TABLE)}
        assert columns == set(row_fields(row_type)) | set(WRITER_COLUMNS), row_type.TABLE


def test_changed_migration_is_refused(db: ChdbDatabase | DriverDatabase, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    Migrator(db, discover(directory)).apply()
    edited = directory / "0003_dns_rrsets.sql"
    edited.write_text(edited.read_text().replace("ttl            UInt32", "ttl            UInt64"))
    with pytest.raises(MigrationError, match="0003_dns_rrsets changed after it was applied"):
        Migrator(db, discover(directory)).apply()
    # the command says so in one line and exits non-zero
    result = CliRunner().invoke(
        migrate, ["--db", db.target.removeprefix("chdb:"), "--migrations-dir", str(directory)]
    )
    assert result.exit_code == 2
    assert "0003_dns_rrsets changed after it was applied" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_applied_file_is_refused(db: ChdbDatabase | DriverDatabase, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    Migrator(db, discover(directory)).apply()
    (directory / "0007_dane_verdicts.sql").unlink()
    (directory / "0007_dane_verdicts.down.sql").unlink()
    with pytest.raises(
        MigrationError, match=r"0007_dane_verdicts is applied .* but its file is missing"
    ):
        Migrator(db, discover(directory)).apply()


def test_new_migration_is_applied_after_the_others(
    db: ChdbDatabase | DriverDatabase, tmp_path: Path
) -> None:
    directory = copy_migrations(tmp_path)
    Migrator(db, discover(directory)).apply()
    (directory / "0099_extra.sql").write_text(
        "CREATE TABLE IF NOT EXISTS extra {{on_cluster}} (k String, version UInt64)\n"
        "ENGINE = {{engine:replacing(version)}} ORDER BY k;\n"
    )
    done = Migrator(db, discover(directory)).apply()
    assert [m.label for m in done] == ["0099_extra"]
    assert "extra" in tables(db)


def test_rollback_runs_down_files(db: ChdbDatabase | DriverDatabase) -> None:
    Migrator(db).apply()
    assert "registered" in dict(db.columns("domains"))
    assert dict(db.columns("certificates"))["key_bits"] == "UInt32"  # 0009 widened it
    later = [v for v in runs_here(db) if v >= 6]  # back to before 0006
    undone = Migrator(db).rollback(len(later))
    assert [m.version for m in undone] == later[::-1]
    assert "dane_verdicts" not in tables(db)
    assert "certificates" not in tables(db)
    assert "registered" not in dict(db.columns("domains"))  # 0008 only added columns
    assert "error" not in dict(db.columns("domains"))  # nor did 0009
    assert [s.state for s in Migrator(db).status() if s.version in later] == ["pending"] * len(later)
    assert [m.version for m in Migrator(db).apply()] == later
    assert "dane_verdicts" in tables(db)
    assert "registered" in dict(db.columns("domains"))
    assert dict(db.columns("certificates"))["key_bits"] == "UInt32"


def test_dry_run_writes_nothing(db_target: str) -> None:
    result = CliRunner().invoke(migrate, ["--db", db_target, "--dry-run"])
    assert result.exit_code == 0, result.output
    # the snapshot tables and the two aggregates of 0014 and 0015, the change tables of 0016, the
    # class tables of 0017
    snapshots = len(SNAPSHOT_TABLES) + 2 + len(CHANGE_TABLES) + len(CLASS_TABLES) if "-- 0014_snapshot_tables" in result.stdout else 0
    assert snapshots or "://" in db_target  # only a server older than 23.1 leaves 0014 out
    assert result.stdout.count("CREATE TABLE IF NOT EXISTS") == len(TABLES) + snapshots
    assert "ReplacingMergeTree(version)" in result.stdout
    assert "{{" not in result.stdout
    if "://" not in db_target:
        assert not Path(db_target).exists()  # not even the chdb directory
    database = connect(db_target)
    try:
        assert tables(database) == []
    finally:
        database.close()


def test_dry_run_after_apply_prints_nothing_pending(db_target: str) -> None:
    runner = CliRunner()
    assert runner.invoke(migrate, ["--db", db_target]).exit_code == 0
    result = runner.invoke(migrate, ["--db", db_target, "--dry-run"])
    assert result.exit_code == 0
    assert "CREATE" not in result.stdout
    listing = runner.invoke(migrate, ["--db", db_target, "--list"])
    assert listing.exit_code == 0
    database = connect(db_target)
    try:
        assert listing.stdout.count("applied") == len(runs_here(database))
    finally:
        database.close()
