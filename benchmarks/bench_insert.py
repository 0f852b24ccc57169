"""Rows per second into chdb and into clickhouse-server, for dane_verdicts and dns_rrsets.

For each engine, table and batch size (1k / 10k / 100k rows) it inserts --rows rows twice:
* ``insert``: columns already built, one ``Database.insert`` per batch (the engine and the wire);
* ``writer``: frozen dataclass rows through ``Writer`` (column extraction + insert), the real path.
It also prints the CPU time of this process per 1,000 rows (the server's CPU is not in it) and checks
that SELECT count() FINAL equals the number of distinct keys afterwards.

The clickhouse-server is started here on 127.0.0.1 with free ports and a private data path in /tmp
(or use --server clickhouse://127.0.0.1:PORT/db for one already running).

    python benchmarks/bench_insert.py --rows 300000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.clickhouse_fixtures import ClickHouseServer, free_port
from workers.store.backend import ChdbDatabase, DriverDatabase, connect
from workers.store.migrations import Migrator
from workers.store.rows import DaneVerdictRow, DnsRrsetRow, Row
from workers.store.writer import Writer

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def verdict(i: int) -> DaneVerdictRow:
    ok = i % 5 != 0
    return DaneVerdictRow(
        "bench", f"mx{i}.hoster{i % 1000}.net", f"127.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
        int(ok), "" if ok else "no-match", "verified" if ok else "defer", int(ok), "secure",
        3 if ok else -1, 1 if ok else -1, 1 if ok else -1, 0 if ok else -1, f"{i:064x}", f"{i + 7:064x}", T0,
    )  # fmt: skip


def rrset(i: int) -> DnsRrsetRow:
    host = f"mx{i}.hoster{i % 1000}.net"
    return DnsRrsetRow(
        "bench", f"_25._tcp.{host}", "TLSA", "NOERROR", 0, 3600,
        [f"3 1 1 {i:064x}", f"2 1 1 {i + 1:064x}"], 1,
        [f"TLSA 13 5 3600 20240601000000 20240501000000 12345 hoster{i % 1000}.net. {'A' * 88}"],
        "secure", "", "127.0.0.53", T0, 1.5, 1,
    )  # fmt: skip


MAKERS: dict[str, Callable[[int], Row]] = {"dane_verdicts": verdict, "dns_rrsets": rrset}


def run_insert(db: ChdbDatabase | DriverDatabase, table: str, rows: list[Row], batch: int) -> float:
    """Rows/s of Database.insert on prebuilt columns (building them is not timed)."""
    schema = db.columns(table)
    names, types = [n for n, _ in schema], [t for _, t in schema]
    batches = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        data: list[list[Any]] = []
        for name in names:
            if name == "worker_host":
                data.append(["bench"] * len(chunk))
            elif name in ("written_at", "version"):
                data.append(
                    [int(time.time())] * len(chunk)
                    if name == "written_at"
                    else list(range(len(chunk)))
                )
            else:
                data.append([getattr(r, name) for r in chunk])
        batches.append(data)
    t = time.perf_counter()
    for data in batches:
        db.insert(table, names, types, data)
    return len(rows) / (time.perf_counter() - t)


def run_writer(
    db: ChdbDatabase | DriverDatabase, rows: list[Row], batch: int
) -> tuple[float, float]:
    """Rows/s and client CPU ms per 1,000 rows of the Writer path."""
    c, t = time.process_time(), time.perf_counter()
    with Writer(db, max_rows=batch, max_age=3600) as writer:
        for row in rows:
            writer.add(row)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return len(rows) / wall, cpu * 1e6 / len(rows)


def bench(db: ChdbDatabase | DriverDatabase, engine: str, n: int, batches: list[int]) -> None:
    Migrator(db).apply()
    for table, make in MAKERS.items():
        rows = [make(i) for i in range(n)]
        for batch in batches:
            db.execute(f"TRUNCATE TABLE {table}")
            ins = run_insert(db, table, rows, batch)
            db.execute(f"TRUNCATE TABLE {table}")
            wr, cpu_ms = run_writer(db, rows, batch)
            final = int(db.query(f"SELECT count() FROM {table} FINAL")[0][0])
            check = "ok" if final == n else f"FINAL={final}"
            print(
                f"{engine:<17} {table:<14} {batch:>7,} {ins:>14,.0f} {wr:>14,.0f} {cpu_ms:>14.1f}  {check}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=300_000, help="rows per (engine, table, batch size)"
    )
    parser.add_argument("--batches", default="1000,10000,100000")
    parser.add_argument(
        "--server", default="", help="use this clickhouse:// URL instead of starting one"
    )
    parser.add_argument("--engines", default="chdb,clickhouse")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    engines = args.engines.split(",")
    print(
        f"{args.rows:,} rows per line; insert = prebuilt columns, writer = dataclass rows via Writer"
    )
    print(
        f"{'engine':<17} {'table':<14} {'batch':>7} {'insert rows/s':>14} {'writer rows/s':>14} {'cpu ms/1k rows':>14}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-insert-"))
    try:
        if "chdb" in engines:
            db = connect(str(tmp / "chdb"))
            bench(db, "chdb", args.rows, batches)
            db.close()
        if "clickhouse" in engines:
            server = None
            url = args.server
            if not url:
                server = ClickHouseServer(
                    tmp / "server", tcp_port=free_port(), http_port=free_port()
                )
                server.start()
                url = server.url("bench")
            try:
                sdb = connect(url)
                assert isinstance(sdb, DriverDatabase)
                bench(sdb, f"server {sdb.server_version}", args.rows, batches)
                sdb.close()
            finally:
                if server is not None:
                    server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
