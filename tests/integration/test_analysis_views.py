"""The analysis views (migrations 0013 and 0017): a database migrated before them says, in one line,
what to run; once migrated, the files that read them answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workers.store.backend import connect
from workers.store.migrations import Migrator, discover

pytestmark = pytest.mark.clickhouse


def danescan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "danescan.cli", *args], capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.parametrize("below", [13, 17])
def test_a_database_older_than_the_views_is_told_to_migrate(tmp_path: Path, below: int) -> None:
    target = str(tmp_path / "db")
    db = connect(target)
    Migrator(db, [m for m in discover() if m.version < below]).apply()
    db.execute("INSERT INTO scans (scan_id, started_at) VALUES ('x', toDateTime('2026-01-01 01:00:00', 'UTC'))")
    db.close()
    r = danescan("query", "management_validity", "--db", target, "--param", "scan_id=x")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "no view class_rows (migration 0017_class_snapshots)" in r.stderr, r.stderr
    assert "danescan migrate" in r.stderr
    if below == 17:
        return  # the rest is the same from either version
    r = danescan("query", "rollovers", "--db", target, "--param", "since=2026-01-01",
                 "--param", "until=2026-01-02")
    assert r.returncode == 2 and "no view rollover_switches (migration 0013" in r.stderr, r.stderr
    migrated = danescan("migrate", "--db", target)
    assert migrated.returncode == 0, migrated.stderr
    for args in (("management_validity", "--param", "scan_id=x"),
                 ("rollovers", "--param", "since=2026-01-01", "--param", "until=2026-01-02"),
                 ("rollover_outcomes", "--param", "since=2026-01-01", "--param", "until=2026-01-02")):
        r = danescan("query", *args, "--db", target, "--format", "csv")
        assert r.returncode == 0, r.stderr
