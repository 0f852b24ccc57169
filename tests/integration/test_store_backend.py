"""--db values: which backend, and one-line errors for what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from danescan.store_cli import migrate
from tests.integration.clickhouse_fixtures import ClickHouseServer, free_port
from workers.store.backend import ChdbDatabase, DriverDatabase, StoreError, connect, parse_target

pytestmark = pytest.mark.clickhouse


def test_targets_are_parsed_by_scheme() -> None:
    assert parse_target("./danescan-data") == ("chdb", "./danescan-data", 0, "")
    assert parse_target("chdb:/var/lib/d") == ("chdb", "/var/lib/d", 0, "")
    assert parse_target("clickhouse://127.0.0.1:19000/dane") == (
        "clickhouse",
        "127.0.0.1",
        19000,
        "dane",
    )
    assert parse_target("clickhouse://127.0.0.1") == ("clickhouse", "127.0.0.1", 9000, "default")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("postgres://127.0.0.1/x", "unknown --db scheme 'postgres'"),
        ("http://127.0.0.1:18123/x", "unknown --db scheme 'http'"),
        ("clickhouse://127.0.0.1:19000/bad-name", "bad database name 'bad-name'"),
        ("", "empty --db"),
    ],
)
def test_bad_targets_are_one_line_errors(target: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        connect(target)
    assert "\n" not in str(info.value)
    result = CliRunner().invoke(migrate, ["--db", target])
    assert result.exit_code == 2
    assert result.stderr.startswith("danescan: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_server_down_is_a_one_line_error() -> None:
    port = free_port()
    with pytest.raises(
        StoreError, match=f"clickhouse-server at 127.0.0.1:{port} is not reachable"
    ) as info:
        connect(f"clickhouse://127.0.0.1:{port}/dane")
    assert "\n" not in str(info.value)
    result = CliRunner().invoke(migrate, ["--db", f"clickhouse://127.0.0.1:{port}/dane"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"danescan: clickhouse-server at 127.0.0.1:{port} is not reachable: Code: 210. Connection refused (127.0.0.1:{port})"
    ]


def test_server_errors_are_one_line(clickhouse_server: ClickHouseServer) -> None:
    db = connect(clickhouse_server.url("default"))
    assert isinstance(db, DriverDatabase)
    assert db.server_version.startswith("18.16")
    with pytest.raises(StoreError, match="Syntax error") as info:
        db.query("SELEC 1")
    assert "\n" not in str(info.value)
    assert "Stack trace" not in str(info.value)
    db.close()


def test_chdb_is_the_default_and_reads_back(tmp_path: Path) -> None:
    db = connect(str(tmp_path / "d"))
    assert isinstance(db, ChdbDatabase)
    assert db.query("SELECT 1, 'x', [1, 2]") == [(1, "x", [1, 2])]
    with pytest.raises(StoreError, match="chdb at"):
        db.query("SELEC 1")
    db.close()
