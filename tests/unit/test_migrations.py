"""Migration files and their rendering, without a database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workers.store.engines import SINGLE, EngineError, profile
from workers.store.migrations import (
    MIGRATIONS_DIR,
    MigrationError,
    checksum,
    discover,
    render,
    split_statements,
)
from workers.store.snapshots import CHANGE_TABLES, CLASS_TABLES
from workers.store.snapshots import TABLES as SNAPSHOT_TABLES

SNAPSHOT_MIGRATIONS = ("snapshot_tables", "leaf_snapshots", "chain_changes", "class_snapshots")  # 0014-0017
AGGREGATES = ("host_chains", "host_leaves")

# What Debian's clickhouse-server 18.16 cannot create (design.md): the same DDL must run there.
FORBIDDEN = re.compile(
    r"\b(DateTime64|IPv4|IPv6|Bool|Map|JSON|Object|TTL|CODEC|LowCardinality|UUID)\b"
)


def test_migrations_are_numbered_without_gaps_and_reversible() -> None:
    migrations = discover()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.down is not None for m in migrations)
    assert len({m.checksum for m in migrations}) == len(migrations)


@pytest.mark.parametrize("path", sorted(MIGRATIONS_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_ddl_runs_on_clickhouse_18_16(path: Path) -> None:
    for statement in render(path.read_text()):
        assert not FORBIDDEN.search(statement), statement
        assert "{{" not in statement and "}}" not in statement


def test_every_table_is_replacing_and_keyed_by_scan_first() -> None:
    """Every table the writer fills; the snapshot tables of 0014-0017, which the store derives
    from them, are checked in test_snapshot_tables_are_derived_by_version."""
    for m in discover():
        statements = render(m.up)
        if all(st.lstrip().upper().startswith("ALTER TABLE") for st in statements):
            continue  # a migration that only adds columns to a table created earlier
        if all(st.lstrip().upper().startswith("CREATE VIEW") for st in statements):
            continue  # views hold no rows (the analysis views of 0013)
        if m.name in SNAPSHOT_MIGRATIONS:
            continue
        (statement,) = statements
        assert "ENGINE = ReplacingMergeTree(version)" in statement
        assert re.search(r"ORDER BY \(?(scan_id|sha256)\b", statement), m.label
        for column in ("worker_host", "written_at", "attempt", "version"):
            assert re.search(rf"^\s*{column}\s", statement, re.M), (m.label, column)


def test_snapshot_tables_are_derived_by_version() -> None:
    """0014's to 0017's tables: each stored by derive() from a view (a newer version replaces an
    older one), host_chains and host_leaves merged by their first and last snapshot; nothing
    else."""
    created = {}
    for m in discover():
        if m.name in SNAPSHOT_MIGRATIONS:
            for st in render(m.up):
                match = re.match(r"\s*CREATE TABLE IF NOT EXISTS (\w+)", st)
                if match:
                    created[match.group(1)] = st
    assert set(created) == {*SNAPSHOT_TABLES, *CHANGE_TABLES, *CLASS_TABLES, *AGGREGATES}
    for name in (*SNAPSHOT_TABLES, *CHANGE_TABLES, *CLASS_TABLES):
        assert "ENGINE = ReplacingMergeTree(version)" in created[name], name
        assert re.search(r"^\s*version\s+UInt64", created[name], re.M), name
    for name in AGGREGATES:
        assert "ENGINE = AggregatingMergeTree()" in created[name], name
        assert "SimpleAggregateFunction(min" in created[name], name


def test_split_statements_respects_quotes_and_comments() -> None:
    sql = """-- a comment; with a semicolon
    CREATE TABLE a (x String DEFAULT 'x;y') ENGINE = Memory; /* block; comment */
    SELECT 'it\\'s; fine', "q;uoted" ;
    ;
    """
    assert split_statements(sql) == [
        "CREATE TABLE a (x String DEFAULT 'x;y') ENGINE = Memory",
        "SELECT 'it\\'s; fine', \"q;uoted\"",
    ]


def test_replicated_profile_swaps_engines_and_adds_distributed_tables() -> None:
    migration = next(m for m in discover() if m.name == "dane_verdicts")
    local, distributed = render(migration.up, profile("replicated:dane"))
    assert "CREATE TABLE IF NOT EXISTS dane_verdicts ON CLUSTER dane" in local
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/dane_verdicts', '{replica}', version)"
        in local
    )
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS dane_verdicts_all ON CLUSTER dane AS dane_verdicts "
        "ENGINE = Distributed(dane, currentDatabase(), dane_verdicts, cityHash64(scan_id, mx_host, ip))"
    )
    down = render(migration.down or "", profile("replicated:dane"))
    assert down == ["DROP TABLE IF EXISTS dane_verdicts ON CLUSTER dane"]
    assert render(migration.down or "", SINGLE) == ["DROP TABLE IF EXISTS dane_verdicts"]


def test_unknown_profile_and_engine_kind_are_errors() -> None:
    with pytest.raises(EngineError, match="unknown engine profile"):
        profile("sharded")
    with pytest.raises(EngineError, match="unknown engine kind 'log'"):
        render("CREATE TABLE t (x UInt8) ENGINE = {{engine:log}}")


def test_checksum_is_of_the_file_as_written() -> None:
    m = discover()[0]
    assert m.checksum == checksum(m.up)
    assert checksum(m.up + "\n") != m.checksum


def test_malformed_migration_sets_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1")
    (tmp_path / "1_b.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match=r"not NNNN_name\.sql"):
        discover(tmp_path)
    (tmp_path / "1_b.sql").unlink()
    (tmp_path / "0001_c.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="two migrations numbered 0001"):
        discover(tmp_path)
    (tmp_path / "0001_c.sql").unlink()
    (tmp_path / "0002_z.down.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="no matching up migration"):
        discover(tmp_path)
