"""Time every analysis file of queries/ on chdb over synthetic snapshots.

The data is generated inside chdb with INSERT ... SELECT FROM numbers() (columnar, no Python
rows): S snapshots one hour apart, H DANE MX hosts per snapshot (1 % of them at 10 hosters whose
names share addresses), 2H domains (half self-managed, half at the hosters), one A record set, one
TLSA record, one STARTTLS probe and two verdict rows (the address and the name) per host and
snapshot, and a certificate per (host, key generation); keys roll every 10 snapshots, with
a third of the TLSA records following late. Defaults: 25 x 200,000 hosts = 10 M dane_verdicts rows.

Each query is timed in wall seconds and in CPU seconds of this process (chdb runs in-process, so
that includes its threads); the best of --repeat runs is printed. --db DIR --keep reuses the data.

    python benchmarks/bench_queries.py [--snapshots 25] [--hosts 200000] [--db DIR] [--keep]
                                       [--repeat 1] [--only rollovers,renewals]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from queries.catalog import catalog
from queries.run import execute
from workers.store.backend import ChdbDatabase
from workers.store.engines import profile
from workers.store.migrations import Migrator, discover

BASE = "toDateTime('2026-01-01 00:00:00', 'UTC')"
HOST = ("if({v} < {hosters}, concat('mx', toString({v}), '.bighost', toString({v} % 10), '.net'), "
        "concat('mail.d', toString({v}), '.com'))")
GEN = "intDiv(k + h % 7, 10)"  # key generation of host h at snapshot k
LATE = "intDiv(k + h % 7 - if(h % 3 = 0, 2, 0), 10)"  # generation the TLSA record names


def generate(db: ChdbDatabase, snapshots: int, hosts: int) -> dict[str, float]:
    hosters = max(hosts // 100, 10)
    host = HOST.format(v="h", hosters=hosters)
    domain_host = HOST.format(v=f"if(d < {hosts}, d, d % {hosters})", hosters=hosters)
    hk = f"intDiv(number, {hosts}) AS k, number % {hosts} AS h"
    stmts = {
        "scans": f"""INSERT INTO scans (scan_id, kind, started_at, finished_at, inputs, settings,
            software_version, status, worker_host, written_at, attempt, version)
            SELECT concat('s', toString(number)), 'hourly', {BASE} + number * 3600,
                   {BASE} + number * 3600 + 600, [], '{{}}', 'bench', 'finished', 'bench', now(), 0, 1
            FROM numbers({snapshots})""",
        "domains": f"""INSERT INTO domains (scan_id, domain, tld, ns, ds_in_parent, has_dnskey, mx,
            mx_preferences, implicit_mx, null_mx, mx_status, mx_dnssec_status, mx_dnssec_reason,
            status, worker_host, written_at, attempt, version)
            SELECT concat('s', toString(k)), concat('d', toString(d), '.com'), 'com',
                   if(d % 2 = 0, [concat('ns1.d', toString(d), '.com')], ['ns1.dnsop.net']), 1, 1,
                   [{domain_host}],
                   [10], 0, 0, 'NOERROR', 'secure', '', 'NOERROR', 'bench', now(), 0, 1
            FROM (SELECT intDiv(number, {2 * hosts}) AS k, number % {2 * hosts} AS d
                  FROM numbers({snapshots * 2 * hosts}))""",
        "dns_rrsets": f"""INSERT INTO dns_rrsets (scan_id, qname, qtype, status, rcode, ttl, records,
            rrsig_count, rrsigs, dnssec_status, dnssec_reason, resolver, queried_at, duration_ms,
            attempts, worker_host, written_at, attempt, version)
            SELECT concat('s', toString(k)), {host}, 'A', 'NOERROR', 0, 3600,
                   [if(h < {hosters}, concat('127.1.0.', toString(h % 10)),
                       concat('127.2.', toString(intDiv(h, 250) % 256), '.', toString(h % 250)))],
                   1, [], 'secure', '', '127.0.0.1', {BASE}, 1, 1, 'bench', now(), 0, 1
            FROM (SELECT {hk} FROM numbers({snapshots * hosts}))""",
        "tlsa_records": f"""INSERT INTO tlsa_records (scan_id, mx_host, base_name, usage, selector,
            mtype, data, ttl, dnssec_status, dnssec_reason, worker_host, written_at, attempt, version)
            SELECT concat('s', toString(k)), {host}, {host}, 3, 1, 1,
                   lower(hex(SHA256(concat('key', toString(h), '-', toString({LATE}))))),
                   if(h % 5 = 0, 600, 3600), if(h % 50 = 0, 'insecure', 'secure'),
                   if(h % 50 = 0, 'missing-ds', ''), 'bench', now(), 0, 1
            FROM (SELECT {hk} FROM numbers({snapshots * hosts}))""",
        "starttls_probes": f"""INSERT INTO starttls_probes (scan_id, mx_host, ip, status, step, banner,
            ehlo, starttls_reply, tls_version, cipher, chain, probed_at, connect_ms, banner_ms,
            handshake_ms, total_ms, error, worker_host, written_at, attempt, version)
            SELECT concat('s', toString(k)), {host}, concat('127.3.', toString(h % 250), '.1'), 'ok',
                   'handshake', '220 x', '250 STARTTLS', '220 go', 'TLSv1.3', 'x',
                   [lower(hex(SHA256(concat('cert', toString(h), '-', toString({GEN}))))),
                    lower(hex(SHA256(concat('ca', toString(h % 3)))))],
                   {BASE}, 1, 1, 1, 3, '', 'bench', now(), 0, 1
            FROM (SELECT {hk} FROM numbers({snapshots * hosts}))""",
        "certificates": f"""INSERT INTO certificates (sha256, der, subject, issuer, san, not_before,
            not_after, spki_sha256, spki_sha512, key_type, key_bits, is_ca_issued, issuer_org,
            issuer_cn, first_seen, scan_id, worker_host, written_at, attempt, version)
            SELECT lower(hex(SHA256(concat('cert', toString(h), '-', toString(g))))), '',
                   concat('CN=', toString(h)), if(h % 3 = 0, concat('CN=', toString(h)), 'CN=R3,O=Let''s Encrypt'),
                   [], {BASE}, {BASE} + 86400 * 90,
                   lower(hex(SHA256(concat('key', toString(h), '-', toString(g))))),
                   lower(hex(SHA512(concat('key', toString(h), '-', toString(g))))), 'ec', 256,
                   h % 3 != 0, if(h % 3 = 0, '', 'Let''s Encrypt'), if(h % 3 = 0, toString(h), 'R3'),
                   {BASE}, 's0', 'bench', now(), 0, 1
            FROM (SELECT intDiv(number, {hosts}) AS g, number % {hosts} AS h
                  FROM numbers({(snapshots // 10 + 2) * hosts}))""",
        "dane_verdicts": f"""INSERT INTO dane_verdicts (scan_id, mx_host, ip, valid, reason, rfc_outcome,
            paper_valid, tlsa_dnssec_status, matched_usage, matched_selector, matched_mtype,
            matched_depth, leaf_spki_sha256, leaf_cert_sha256, verified_at, worker_host, written_at,
            attempt, version)
            SELECT concat('s', toString(k)), {host}, if(one = 1, '', concat('127.3.', toString(h % 250), '.1')),
                   ok, multiIf(ok, '', h % 50 = 0, 'missing-ds', 'matches-old-certificate'),
                   if(ok, 'verified', 'defer'), ok, if(h % 50 = 0, 'insecure', 'secure'),
                   if(ok, 3, -1), if(ok, 1, -1), if(ok, 1, -1), 0,
                   lower(hex(SHA256(concat('key', toString(h), '-', toString({GEN}))))),
                   lower(hex(SHA256(concat('cert', toString(h), '-', toString({GEN}))))),
                   {BASE} + k * 3600, 'bench', now(), 0, 1
            FROM (SELECT {hk}, toUInt8({GEN} = {LATE} AND h % 50 != 0) AS ok
                  FROM numbers({snapshots * hosts})) ARRAY JOIN [1, 2] AS one""",
    }
    took: dict[str, float] = {}
    for table, sql in stmts.items():
        t0 = time.perf_counter()
        db.execute(sql)
        took[table] = time.perf_counter() - t0
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshots", type=int, default=25)
    ap.add_argument("--hosts", type=int, default=200_000)
    ap.add_argument("--db", default=None, help="chdb directory (default: a temporary one)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep generated data (with --db, reuse it)")
    ap.add_argument("--only", default="", help="comma-separated query names (default: all)")
    args = ap.parse_args()
    path = Path(args.db or tempfile.mkdtemp(prefix="bench-queries-"))
    fresh = not (path / "metadata").exists()
    db = ChdbDatabase(str(path))
    try:
        if fresh or not args.keep:
            Migrator(db, discover(), profile("single")).apply()
            for t in ("scans", "domains", "dns_rrsets", "tlsa_records", "starttls_probes",
                      "certificates", "dane_verdicts"):
                db.execute(f"TRUNCATE TABLE {t}")
            took = generate(db, args.snapshots, args.hosts)
            for table, s in took.items():
                n = db.query(f"SELECT count() FROM {table}")[0][0]
                print(f"generated {table:16} {n:>11,} rows in {s:6.1f} s", flush=True)
        db.execute("OPTIMIZE TABLE dane_verdicts FINAL")
        last = db.query("SELECT scan_id FROM scans FINAL ORDER BY started_at DESC LIMIT 1")[0][0]
        window = {"since": "2026-01-01 00:00:00", "until": "2027-01-01 00:00:00"}
        values = {"scan_id": last, "threshold": "50", **window}
        only = {n.strip() for n in args.only.split(",") if n.strip()}
        print(f"{'query':34} {'wall s':>8} {'cpu s':>8} {'rows':>8}")
        for name, q in catalog().items():
            if only and name not in only:
                continue
            best = best_cpu = float("inf")
            rows = 0
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                res = execute(db, q, {k: v for k, v in values.items() if k in q.params})
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.process_time() - c0)
                rows = len(res.rows)
            print(f"{name:34} {best:8.2f} {best_cpu:8.2f} {rows:8}", flush=True)
    finally:
        db.close()
        if args.db is None and not args.keep:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
