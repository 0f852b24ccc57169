"""The buffered writer on chdb and clickhouse-server: batches, no duplicates after FINAL, no loss."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.clickhouse_fixtures import ClickHouseServer, free_port
from workers.store.backend import ChdbDatabase, DriverDatabase, connect
from workers.store.migrations import Migrator
from workers.store.rows import (
    ROW_TYPES,
    CertificateRow,
    DaneVerdictRow,
    DnsRrsetRow,
    DomainRow,
    Row,
    ScanRow,
    StarttlsProbeRow,
    TlsaRecordRow,
)
from workers.store.writer import BufferFull, WriteError, Writer
from workers.vocab import (
    DaneReason,
    DnssecReason,
    DnssecStatus,
    QueryStatus,
    RfcOutcome,
    SmtpStatus,
)

pytestmark = pytest.mark.clickhouse

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
KEYS = {
    "scans": "scan_id",
    "domains": "scan_id, domain",
    "dns_rrsets": "scan_id, qname, qtype",
    "tlsa_records": "scan_id, mx_host, usage, selector, mtype, data",
    "starttls_probes": "scan_id, mx_host, ip",
    "certificates": "sha256",
    "dane_verdicts": "scan_id, mx_host, ip",
}


def example(table: str, i: int, scan_id: str = "s1", attempt: int = 0) -> Row:
    """One plausible row of a table; rows with the same i have the same key."""
    host = f"mx{i}.example{i % 7}.org"
    if table == "scans":
        return ScanRow(
            f"{scan_id}-{i}",
            "adhoc",
            T0,
            T0,
            ["com.zone"],
            '{"a": 1}',
            "0.1.0",
            "finished",
            attempt,
        )
    if table == "domains":
        return DomainRow(
            scan_id, f"d{i}.org", "org", ["ns1.dns.net", "ns2.dns.net"], 1, 1, [host], [10], 0, 0,
            QueryStatus.NOERROR, DnssecStatus.SECURE, DnssecReason.NONE, QueryStatus.NOERROR, attempt,
        )  # fmt: skip
    if table == "dns_rrsets":
        return DnsRrsetRow(
            scan_id, f"_25._tcp.{host}", "TLSA", QueryStatus.NOERROR, 0, 3600, ["3 1 1 abcd"], 1,
            ["TLSA 13 4 3600 ..."], DnssecStatus.SECURE, DnssecReason.NONE, "127.0.0.53", T0, 1.25, 1, attempt,
        )  # fmt: skip
    if table == "tlsa_records":
        return TlsaRecordRow(
            scan_id,
            host,
            f"_25._tcp.{host}",
            3,
            1,
            1,
            f"{i:064x}",
            3600,
            DnssecStatus.SECURE,
            DnssecReason.NONE,
            attempt,
        )
    if table == "starttls_probes":
        return StarttlsProbeRow(
            scan_id, host, f"127.0.{i // 250}.{i % 250 + 1}", SmtpStatus.OK, "handshake", "220 hi", "250 STARTTLS",
            "220 go", "TLSv1.3", "TLS_AES_256_GCM_SHA384", [f"{i:064x}", "ff" * 32], T0, 1.0, 2.0, 3.0, 6.0, "", attempt,
        )  # fmt: skip
    if table == "certificates":
        return CertificateRow(
            f"{i:064x}", bytes([0x30, 0x82, i % 256, 0]), f"CN={host}", "CN=R3,O=Let's Encrypt", [host],
            T0, datetime(2024, 8, 1, tzinfo=UTC), "aa" * 32, "bb" * 64, "rsa", 2048, 1, "Let's Encrypt", "R3",
            T0, scan_id, attempt,
        )  # fmt: skip
    return DaneVerdictRow(
        scan_id, host, "", i % 2, DaneReason.NONE if i % 2 else DaneReason.NO_MATCH,
        RfcOutcome.VERIFIED if i % 2 else RfcOutcome.DEFER, i % 2, DnssecStatus.SECURE,
        3 if i % 2 else -1, 1 if i % 2 else -1, 1 if i % 2 else -1, 0 if i % 2 else -1, "cc" * 32, f"{i:064x}", T0, attempt,
    )  # fmt: skip


@pytest.fixture
def db(db_target: str) -> Iterator[ChdbDatabase | DriverDatabase]:
    database = connect(db_target)
    Migrator(database).apply()
    yield database
    database.close()


def count(db: ChdbDatabase | DriverDatabase, table: str) -> int:
    return int(db.query(f"SELECT count() FROM {table} FINAL")[0][0])


def test_same_rows_twice_are_stored_once_after_final(db: ChdbDatabase | DriverDatabase) -> None:
    n = 1200
    for attempt in (0, 1):  # a retried task writes the same rows again
        with Writer(db, max_rows=500) as writer:
            for row_type in ROW_TYPES:
                writer.add_many(example(row_type.TABLE, i, attempt=attempt) for i in range(n))
        assert writer.stats.rows_written == n * len(ROW_TYPES)  # both writes went in ...
    for row_type in ROW_TYPES:
        table = row_type.TABLE
        assert count(db, table) == n, table  # ... and FINAL shows each key once
        keys = db.query(f"SELECT count() FROM (SELECT DISTINCT {KEYS[table]} FROM {table})")
        assert int(keys[0][0]) == n, table
        attempts = db.query(f"SELECT DISTINCT attempt FROM {table} FINAL")
        assert attempts == [(1,)], table  # the later write won


def test_values_round_trip(db: ChdbDatabase | DriverDatabase) -> None:
    with Writer(db, worker_host="w1") as writer:
        writer.add(example("certificates", 5))
        writer.add(example("starttls_probes", 5))
        writer.add(example("dane_verdicts", 4))
    cert = db.query(
        "SELECT der, san, toUnixTimestamp(not_after), key_bits, issuer_org, worker_host FROM certificates FINAL"
    )
    der, san, not_after, bits, org, host = cert[0]
    assert (der.encode() if isinstance(der, str) else der) == bytes([0x30, 0x82, 5, 0])
    assert list(san) == ["mx5.example5.org"]
    assert int(not_after) == int(datetime(2024, 8, 1, tzinfo=UTC).timestamp())
    assert (bits, org, host) == (2048, "Let's Encrypt", "w1")
    probe = db.query(
        "SELECT chain, status, toUnixTimestamp(probed_at), handshake_ms FROM starttls_probes FINAL"
    )
    assert probe == [([f"{5:064x}", "ff" * 32], "ok", int(T0.timestamp()), 3.0)]
    verdict = db.query(
        "SELECT valid, reason, rfc_outcome, matched_usage, matched_depth FROM dane_verdicts FINAL"
    )
    assert verdict == [(0, "no-match", "defer", -1, -1)]


def test_later_write_of_a_key_wins(db: ChdbDatabase | DriverDatabase) -> None:
    with Writer(db) as writer:
        writer.add(ScanRow("scan-a", "nightly", T0, status="running"))
        writer.add(ScanRow("scan-a", "nightly", T0, T0, status="finished"))  # same batch
    assert db.query("SELECT status FROM scans FINAL") == [("finished",)]
    with Writer(db) as writer:
        writer.add(ScanRow("scan-a", "nightly", T0, T0, status="interrupted"))  # later batch
    assert db.query("SELECT status FROM scans FINAL") == [("interrupted",)]


def test_certificate_keeps_its_first_sighting(db: ChdbDatabase | DriverDatabase) -> None:
    base = example("certificates", 1)
    assert isinstance(base, CertificateRow)
    later = datetime(2024, 6, 1, tzinfo=UTC)
    with Writer(db) as writer:
        writer.add_dict("certificates", {**_as_dict(base), "first_seen": later, "scan_id": "s2"})
    with Writer(db) as writer:
        writer.add(base)  # an earlier sighting written later
    with Writer(db) as writer:
        writer.add_dict("certificates", {**_as_dict(base), "first_seen": later, "scan_id": "s3"})
    assert db.query("SELECT scan_id, toUnixTimestamp(first_seen) FROM certificates FINAL") == [
        ("s1", int(T0.timestamp()))
    ]


def _as_dict(row: Row) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(row)}


def test_flush_by_size_and_by_age(db: ChdbDatabase | DriverDatabase) -> None:
    now = [0.0]
    writer = Writer(db, max_rows=100, max_age=1.0, clock=lambda: now[0])
    writer.add_many(example("dns_rrsets", i) for i in range(250))
    assert writer.pending() == {"dns_rrsets": 50}
    assert count(db, "dns_rrsets") == 200
    now[0] = 0.5
    writer.add(example("dane_verdicts", 1))
    assert writer.flush_due() == 0
    now[0] = 1.6  # the oldest row of both buffers is now over a second old
    assert writer.flush_due() == 51
    assert writer.pending() == {}
    assert count(db, "dns_rrsets") == 250
    assert count(db, "dane_verdicts") == 1
    assert writer.stats.batches == 4


def test_dict_rows_with_wrong_keys_fail_at_once(db: ChdbDatabase | DriverDatabase) -> None:
    writer = Writer(db)
    with pytest.raises(TypeError):
        writer.add_dict("dane_verdicts", {"scan_id": "s", "no_such_column": 1})
    with pytest.raises(ValueError, match="no such table"):
        writer.add_dict("nope", {})
    assert writer.pending() == {}


def test_a_bad_batch_is_kept_not_dropped(db: ChdbDatabase | DriverDatabase) -> None:
    writer = Writer(db, retries=1, retry_delay=0.0)
    writer.add(
        DnsRrsetRow(
            "s", "a.org", "A", "NOERROR", 0, 2**40, [], 0, [], "secure", "", "r", T0, 1.0, 1
        )
    )
    with pytest.raises(WriteError, match="1 rows kept"):
        writer.flush()
    assert writer.pending() == {"dns_rrsets": 1}
    assert writer.stats.failures == 2
    assert count(db, "dns_rrsets") == 0


def test_server_outage_loses_nothing(tmp_path: Path) -> None:
    """Rows written while the server is down wait in the writer and arrive once it is back."""
    server = ClickHouseServer(tmp_path / "server", tcp_port=free_port(), http_port=free_port())
    server.start()
    try:
        db = connect(server.url("outage"))
        Migrator(db).apply()
        now = [0.0]  # a clock that stands still: only size makes a batch due here
        writer = Writer(db, max_rows=1000, retries=1, retry_delay=0.0, clock=lambda: now[0])
        writer.add_many(
            example("dane_verdicts", i) for i in range(1500)
        )  # 1000 written, 500 pending
        assert count(db, "dane_verdicts") == 1000
        server.stop()
        writer.add_many(
            example("dane_verdicts", i) for i in range(1500, 1999)
        )  # below the threshold
        with pytest.raises(WriteError, match="dane_verdicts failed, 1000 rows kept"):
            writer.add(example("dane_verdicts", 1999))  # the 1000th row makes a batch due
        assert writer.pending() == {"dane_verdicts": 1000}
        writer.add(example("dane_verdicts", 2000))  # backing off: taken, no new attempt yet
        with pytest.raises(WriteError, match="dane_verdicts failed, 1001 rows kept"):
            writer.flush()
        server.start()
        assert writer.flush() == 1001
        assert writer.pending() == {}
        assert count(db, "dane_verdicts") == 2001
        db.close()
    finally:
        server.stop()


def test_buffer_full_refuses_the_row(db: ChdbDatabase | DriverDatabase) -> None:
    writer = Writer(db, max_rows=10, max_pending=3)
    writer.add_many(example("scans", i) for i in range(3))
    with pytest.raises(BufferFull):
        writer.add(example("scans", 3))
    assert writer.pending() == {"scans": 3}
    assert writer.flush() == 3


def test_chdb_path_is_owned_by_one_process(chdb_path: Path) -> None:
    import subprocess
    import sys

    db = connect(str(chdb_path))
    try:
        code = f"from workers.store.backend import connect\nconnect({str(chdb_path)!r})"
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert result.returncode != 0
        assert "is another process using it?" in result.stderr
    finally:
        db.close()
