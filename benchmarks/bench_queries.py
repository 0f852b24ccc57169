"""Time every analysis file of queries/ on chdb over synthetic snapshots shaped like the paper's.

The data is generated inside chdb with INSERT ... SELECT FROM numbers() (columnar, no Python
rows), so the tables' materialized views fill the derived tables as a scan's writer would. Shape
(Under the Hood of DANE Mismanagement in SMTP, sections 4-5), S hourly snapshots of H DANE MX hosts:

* domains per MX host heavy-tailed: host h (h < about 2,150) serves 100,000 / (h + 1)^1.5 domains
  of customers at one of 20 hosters (100,000 for the first, 35,000 for the second, ...); every
  other host is the self-managed MX of one domain (half of them with their own name server, the
  rest at one DNS operator), 2 % are customer-named MX hosts on 4 shared addresses (rule 1) and
  2 % are at a registered domain of their own (class unknown);
* 20 % of the hosts have two addresses; 2 % have an insecure TLSA RRset (missing DS);
* key rollovers at the paper's rates: 2.5 % of the hosts change their leaf key inside the 25
  snapshots (a 60-day automatic renewal seen hourly), 10 % of them correctly (next record 3 hours
  ahead), 40 % same-time, 30 % too late, 10 % updated later, 10 % never (87-92 % wrong, 72-84 %
  ignoring the TTL); 5 % of the hosts use TTL 300 (short-ttl), one in seven pins its issuer
  (2 1 1); 5 % renew the certificate with the same key; an address of some two-address hosts
  switches an hour after the other.

`--rows` is the number of dane_verdicts rows (a name row and a row per address, per host and
snapshot): 10 million by default, 100 million for the large mode. Each query is run on the data
and its result hashed (SHA-256 of the sorted rows), so that two versions of the SQL can be
compared on the same data: `--sql DIR` runs the .sql files of DIR (for example main's queries/,
exported with `git archive main queries | tar -x -C /tmp/main-sql`) instead of this tree's.
Printed per query: wall seconds and CPU seconds of this process through queries.run.execute
(chdb runs in-process, so its threads are included; this includes turning the result into Python
rows), wall seconds of the engine alone (the same SQL with its output discarded), result rows,
best of --repeat, and the hash; then the data size on disk. --db DIR --keep reuses the data.

    python benchmarks/bench_queries.py [--rows 10000000] [--snapshots 25] [--db DIR] [--keep]
                                       [--repeat 1] [--only rollovers,renewals] [--sql DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from queries.catalog import Query, catalog, parse
from queries.run import execute
from workers.store.backend import ChdbDatabase
from workers.store.engines import profile
from workers.store.migrations import Migrator, discover
from workers.store.snapshots import derive

TABLES = ("scans", "domains", "dns_rrsets", "tlsa_records", "starttls_probes", "certificates",
          "dane_verdicts")
BASE = "toDateTime('2026-01-01 00:00:00', 'UTC')"
# Per host h: n domains served; 'big' hosts (n > 1) are hoster MX hosts.
N = "greatest(1, toUInt32(100000 / pow(h + 1, 1.5)))"
HOST = ("multiIf({n} > 1, concat('mx', toString(h), '.hoster', toString(h % 20), '.net'), "
        "h % 50 = 13, concat('mail.other', toString(h), '.org'), "
        "h % 50 = 7, concat('mx.d', toString(h), '.com'), concat('mail.d', toString(h), '.com'))")
HOST_REG = ("multiIf({n} > 1, concat('hoster', toString(h % 20), '.net'), "
            "h % 50 = 13, concat('other', toString(h), '.org'), concat('d', toString(h), '.com'))")
IP1 = ("if(h % 50 = 7 AND {n} = 1, concat('127.1.0.', toString(h % 4)), "
       "concat('127.', toString(2 + intDiv(h, 65536)), '.', toString(intDiv(h, 256) % 256), '.', toString(h % 256)))")
IP2 = ("concat('127.', toString(100 + intDiv(h, 65536)), '.', toString(intDiv(h, 256) % 256), '.', "
       "toString(h % 256))")
# Rollovers: host h switches to key generation 1 at snapshot roll (2.5 % inside 25 snapshots).
ROLL = "(h * 7919) % ({s} * 40)"
STYLE = "h % 10"  # 0 correct, 1-4 same-time, 5-7 too-late, 8 updated-later, 9 not-updated
RENEW = "(h * 104729 + 11) % ({s} * 20)"  # a same-key renewal at this snapshot (5 %)
GEN = "toUInt32(k >= {roll})"
# Generations the TLSA RRset names at snapshot k
TLSA_GENS = ("multiIf({style} = 0, multiIf(k + 3 < {roll}, [0], k < {roll} + 1, [0, 1], [1]), "
             "{style} <= 4, if(k >= {roll}, [1], [0]), "
             "{style} <= 7, multiIf(k + 1 < {roll}, [0], k < {roll} + 1, [0, 1], [1]), "
             "{style} = 8, if(k >= {roll} + 2, [1], [0]), [0])")


def shape(snapshots: int) -> dict[str, str]:
    roll = ROLL.format(s=snapshots)
    out = {"n": N, "roll": roll, "style": STYLE, "renew": RENEW.format(s=snapshots)}
    out["host"] = HOST.format(**out)
    out["host_reg"] = HOST_REG.format(**out)
    out["ip1"] = IP1.format(**out)
    out["ip2"] = IP2
    out["gen"] = GEN.format(**out)
    out["tlsa_gens"] = TLSA_GENS.format(**out)
    # the generation an address presents: the second address of h % 15 = 1 switches an hour late
    out["addr_gen"] = f"toUInt32(k >= {roll} + if(a = 2 AND h % 15 = 1, 1, 0))"
    out["renewed"] = f"toUInt32(k >= {out['renew']})"
    return out


def generate(db: ChdbDatabase, snapshots: int, hosts: int) -> dict[str, float]:
    f = shape(snapshots)
    kh = f"intDiv(number, {hosts}) AS k, number % {hosts} AS h"
    key = "lower(hex(SHA256(concat('key', toString(h), '-', toString({g})))))"
    cert = ("lower(hex(SHA256(concat('cert', toString(h), '-', toString({g}), '-', "
            "toString({r})))))")
    ca = "lower(hex(SHA256(concat('ca', toString(h % 3)))))"
    ca_key = "lower(hex(SHA256(concat('cakey', toString(h % 3)))))"
    addrs = f"if(h % 5 = 1, [{f['ip1']}, {f['ip2']}], [{f['ip1']}])"
    stmts = {
        "scans": f"""INSERT INTO scans (scan_id, kind, started_at, finished_at, inputs, settings,
            software_version, status, worker_host, written_at, attempt, version)
            SELECT concat('s', toString(number)), 'hourly', {BASE} + number * 3600,
                   {BASE} + number * 3600 + 600, [], '{{}}', 'bench', 'finished', 'bench', now(), 0, 1
            FROM numbers({snapshots})""",
        "domains": f"""INSERT INTO domains (scan_id, domain, tld, ns, ds_in_parent, has_dnskey, mx,
            mx_preferences, implicit_mx, null_mx, mx_status, mx_dnssec_status, mx_dnssec_reason,
            status, worker_host, written_at, attempt, version, registered, mx_registered, ns_registered)
            SELECT concat('s', toString(k)), dom, 'com', ns, 1, 1, [host], [10], 0, 0, 'NOERROR',
                   if(h % 97 = 3, 'bogus', 'secure'), '', 'NOERROR', 'bench', now(), 0, 1,
                   reg, [host_reg], arrayMap(x -> arrayStringConcat(arraySlice(splitByChar('.', x), -2), '.'), ns)
            FROM (SELECT k, h, {f['host']} AS host, {f['host_reg']} AS host_reg,
                         if({f['n']} > 1, concat('c', toString(h), 'x', toString(j), '.com'),
                            concat('d', toString(h), '.com')) AS dom,
                         if({f['n']} > 1, concat('c', toString(h), 'x', toString(j), '.com'),
                            concat('d', toString(h), '.com')) AS reg,
                         multiIf({f['n']} > 1, [concat('ns', toString(h % 3), '.hoster', toString(h % 20), '.net')],
                                 h % 2 = 0, [concat('ns1.d', toString(h), '.com')], ['ns1.dnsop.net']) AS ns
                  FROM (SELECT {kh} FROM numbers({snapshots * hosts}))
                  ARRAY JOIN range({f['n']}) AS j)""",
        "dns_rrsets": f"""INSERT INTO dns_rrsets (scan_id, qname, qtype, status, rcode, ttl, records,
            rrsig_count, rrsigs, dnssec_status, dnssec_reason, resolver, queried_at, duration_ms,
            attempts, worker_host, written_at, attempt, version)
            SELECT concat('s', toString(k)), {f['host']}, 'A', 'NOERROR', 0, 3600, {addrs},
                   1, [], 'secure', '', '127.0.0.1', {BASE} + k * 3600, 1, 1, 'bench', now(), 0, 1
            FROM (SELECT {kh} FROM numbers({snapshots * hosts}))""",
        "tlsa_records": f"""INSERT INTO tlsa_records (scan_id, mx_host, base_name, usage, selector,
            mtype, data, ttl, dnssec_status, dnssec_reason, worker_host, written_at, attempt, version)
            SELECT concat('s', toString(k)), {f['host']}, {f['host']}, if(h % 7 = 2, 2, 3), 1, 1,
                   if(h % 7 = 2, {ca_key}, {key.format(g='g')}),
                   if(h % 20 = 3, 300, 3600), if(h % 50 = 0, 'insecure', 'secure'),
                   if(h % 50 = 0, 'missing-ds', ''), 'bench', now(), 0, 1
            FROM (SELECT {kh} FROM numbers({snapshots * hosts}))
            ARRAY JOIN if(h % 7 = 2, [0], {f['tlsa_gens']}) AS g""",
        "starttls_probes": f"""INSERT INTO starttls_probes (scan_id, mx_host, ip, status, step, banner,
            ehlo, starttls_reply, tls_version, cipher, chain, probed_at, connect_ms, banner_ms,
            handshake_ms, total_ms, error, worker_host, written_at, attempt, version)
            SELECT concat('s', toString(k)), {f['host']}, addrs[a], 'ok',
                   'handshake', '220 x', '250 STARTTLS', '220 go', 'TLSv1.3', 'x',
                   [{cert.format(g=f['addr_gen'], r=f['renewed'])}, {ca}],
                   {BASE} + k * 3600, 1, 1, 1, 3, '', 'bench', now(), 0, 1
            FROM (SELECT {kh}, {addrs} AS addrs FROM numbers({snapshots * hosts}))
            ARRAY JOIN arrayEnumerate(addrs) AS a""",
        "certificates": f"""INSERT INTO certificates (sha256, der, subject, issuer, san, not_before,
            not_after, spki_sha256, spki_sha512, key_type, key_bits, is_ca_issued, issuer_org,
            issuer_cn, first_seen, scan_id, worker_host, written_at, attempt, version)
            SELECT {cert.format(g='g', r='r')}, '', concat('CN=', toString(h)),
                   if(h % 3 = 2, 'CN=Private CA', if(h % 3 = 0, 'CN=R3,O=Let''s Encrypt', 'CN=E1,O=Let''s Encrypt')),
                   [], {BASE}, {BASE} + 86400 * 90, {key.format(g='g')},
                   lower(hex(SHA512(concat('key', toString(h), '-', toString(g))))), 'ec', 256,
                   h % 3 != 2, if(h % 3 = 2, '', 'Let''s Encrypt'), ['R3', 'E1', 'Private CA'][h % 3 + 1],
                   {BASE}, 's0', 'bench', now(), 0, 1
            FROM (SELECT intDiv(number, {hosts}) AS c, number % {hosts} AS h, c % 2 AS g, intDiv(c, 2) AS r
                  FROM numbers({4 * hosts}))
            UNION ALL
            SELECT {ca}, '', concat('CN=CA', toString(h)), concat('CN=CA', toString(h)), [], {BASE},
                   {BASE} + 86400 * 900, {ca_key}, lower(hex(SHA512(concat('cakey', toString(h % 3))))),
                   'ec', 256, 1, 'Let''s Encrypt', 'root', {BASE}, 's0', 'bench', now(), 0, 1
            FROM (SELECT number AS h FROM numbers(3))""",
        "dane_verdicts": f"""INSERT INTO dane_verdicts (scan_id, mx_host, ip, valid, reason, rfc_outcome,
            paper_valid, tlsa_dnssec_status, matched_usage, matched_selector, matched_mtype,
            matched_depth, leaf_spki_sha256, leaf_cert_sha256, verified_at, worker_host, written_at,
            attempt, version)
            SELECT concat('s', toString(k)), {f['host']}, if(a = 0, '', addrs[a]), ok,
                   multiIf(ok, '', h % 50 = 0, 'missing-ds', has(gens, 0), 'matches-old-certificate', 'no-match'),
                   if(ok, 'verified', 'defer'), ok, if(h % 50 = 0, 'insecure', 'secure'),
                   if(ok, if(h % 7 = 2, 2, 3), -1), if(ok, 1, -1), if(ok, 1, -1), if(ok, if(h % 7 = 2, 1, 0), -1),
                   {key.format(g='gen')}, {cert.format(g='gen', r=f['renewed'])},
                   {BASE} + k * 3600, 'bench', now(), 0, 1
            FROM (SELECT {kh}, {addrs} AS addrs, {f['tlsa_gens']} AS gens, {f['gen']} AS gen,
                         toUInt8(h % 50 != 0 AND (h % 7 = 2 OR has(gens, gen))) AS ok
                  FROM numbers({snapshots * hosts}))
            ARRAY JOIN range(length(addrs) + 1) AS a""",
    }
    took: dict[str, float] = {}
    for table, sql in stmts.items():
        t0 = time.perf_counter()
        db.execute(sql)
        took[table] = time.perf_counter() - t0
    return took


def result_hash(rows: list[tuple[Any, ...]]) -> str:
    """SHA-256 of the sorted rows (order-free: compares two versions of a query's answer)."""
    return hashlib.sha256("\n".join(sorted(repr(r) for r in rows)).encode()).hexdigest()[:16]


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def queries_from(directory: str | None) -> dict[str, Query]:
    if directory is None:
        return catalog()
    return {p.stem: parse(p) for p in sorted(Path(directory).glob("*.sql"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="dane_verdicts rows (default 10 M)")
    ap.add_argument("--snapshots", type=int, default=25)
    ap.add_argument("--db", default=None, help="chdb directory (default: a temporary one)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep generated data (with --db, reuse it)")
    ap.add_argument("--only", default="", help="comma-separated query names (default: all)")
    ap.add_argument("--sql", default=None, help="run the .sql files of this directory instead")
    ap.add_argument("--raw", action="store_true",
                    help="store no snapshot rows: the analyses read every scan's raw rows")
    args = ap.parse_args()
    hosts = max(int(args.rows / args.snapshots / 2.2), 1000)
    path = Path(args.db or tempfile.mkdtemp(prefix="bench-queries-"))
    fresh = not (path / "metadata").exists()
    db = ChdbDatabase(str(path))
    try:
        Migrator(db, discover(), profile("single")).apply()
        if fresh or not args.keep:
            for t in TABLES:
                db.execute(f"TRUNCATE TABLE {t}")
            for (t,) in db.query("SELECT name FROM system.tables WHERE database = currentDatabase() "
                                 "AND engine LIKE '%MergeTree' AND name NOT IN "
                                 f"({', '.join(repr(t) for t in TABLES)}, 'schema_migrations')"):
                db.execute(f"TRUNCATE TABLE {t}")  # derived tables, filled again by their views
            print(f"{args.snapshots} snapshots x {hosts:,} DANE MX hosts", flush=True)
            took = generate(db, args.snapshots, hosts)
            for table, s in took.items():
                n = db.query(f"SELECT count() FROM {table}")[0][0]
                print(f"generated {table:16} {n:>12,} rows in {s:6.1f} s", flush=True)
            for (t,) in db.query("SELECT name FROM system.tables WHERE database = currentDatabase() "
                                 "AND engine LIKE '%MergeTree'"):
                db.execute(f"OPTIMIZE TABLE {t} FINAL")
            if not args.raw:  # what each scan's close does (workers/store/snapshots.py)
                scans = [r[0] for r in db.query("SELECT scan_id FROM scans FINAL ORDER BY started_at")]
                t0 = time.perf_counter()
                for scan_id in scans:
                    if not derive(db, scan_id):
                        raise SystemExit(f"bench_queries: scan {scan_id}: snapshot rows not stored")
                took_s = time.perf_counter() - t0
                print(f"stored snapshot rows of {len(scans)} scans in {took_s:.1f} s "
                      f"({took_s / max(len(scans), 1):.2f} s per scan close)", flush=True)
        last = db.query("SELECT scan_id FROM scans FINAL ORDER BY started_at DESC LIMIT 1")[0][0]
        window = {"since": "2026-01-01 00:00:00", "until": "2027-01-01 00:00:00"}
        values = {"scan_id": last, "threshold": "50", **window}
        only = {n.strip() for n in args.only.split(",") if n.strip()}
        print(f"{'query':34} {'wall s':>8} {'cpu s':>8} {'sql s':>8} {'rows':>8}  result sha256", flush=True)
        for name, q in queries_from(args.sql).items():
            if only and name not in only:
                continue
            best = best_cpu = best_sql = float("inf")
            rows: list[tuple[Any, ...]] = []
            params = {k: v for k, v in values.items() if k in q.params}
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                rows = execute(db, q, params).rows
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.process_time() - c0)
                t0 = time.perf_counter()  # the engine alone: the same SQL, its output discarded
                db._session.query(q.sql, "Null", params=params)
                best_sql = min(best_sql, time.perf_counter() - t0)
            print(f"{name:34} {best:8.2f} {best_cpu:8.2f} {best_sql:8.2f} {len(rows):8}  {result_hash(rows)}",
                  flush=True)
        size = db.query("SELECT table, sum(bytes_on_disk), sum(rows) FROM system.parts "
                        "WHERE active AND database = currentDatabase() GROUP BY table ORDER BY table")
        for table, b, n in size:
            print(f"on disk {table:28} {b / 2**20:9.1f} MiB {n:>12,} rows")
        print(f"on disk, whole directory {disk_bytes(path) / 2**20:9.1f} MiB")
    finally:
        db.close()
        if args.db is None and not args.keep:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
