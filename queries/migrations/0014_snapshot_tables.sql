-- What a rollover judgement reads of one snapshot, computed once when the scan closes (issue 17):
-- per (scan, MX host, address) the chain presented and the management class of the domains the
-- host serves, and per (scan, MX host) the TLSA RRset. None of it changes after the
-- scan has closed, so judging the rollovers of 25 or 10,000 snapshots reads these small rows
-- instead of re-deriving every snapshot from the probes, the certificates, the TLSA records and
-- every domain (rollovers: 21 s at 10 M verdict rows before).
-- requires: ClickHouse 23.1
-- The rules stay written once: each stored table is filled from a view below (workers/store/
-- snapshots.py, at the scan's close and for older scans by this migration), and
-- rollover_switches reads a scan's stored rows only when derived_scans says they were derived from
-- the scan row as it now stands (same scans.version): a scan resumed and closed again, a scan
-- still running, or one closed while the store could not derive is read from the raw rows
-- through the same views. So the answer is the same either way; only its speed differs.

-- probe_snapshots_of(scans Array(String)): per (scan, MX host, address) that completed TLS with
-- a chain: the scan's start (at), leaf, leaf key, issuer key (cityHash64 of the certificate's
-- SHA-256 and of the keys' SPKI SHA-256), and every TLSA record "u s m data" that designates a
-- certificate of the chain (usage 3/1 at the leaf, 2/0 above it), as cityHash64 of its text.
-- Matching data as the verdict computes it (workers/dane/certs.py CertDigests.association):
-- selector 0 the certificate, 1 its SubjectPublicKeyInfo; mtype 1 SHA-256, 2 SHA-512, 0 the full
-- DER, compared through its SHA-256 (TLSA records are normalised the same way below).
CREATE VIEW IF NOT EXISTS probe_snapshots_of {{on_cluster}} AS
WITH
of_scans AS (SELECT scan_id, started_at AS at FROM scans FINAL
             WHERE scan_id IN (SELECT arrayJoin({scans:Array(String)}))),
probes AS (
    SELECT scan_id, mx_host AS host, ip, chain
    FROM starttls_probes FINAL
    WHERE scan_id IN (SELECT scan_id FROM of_scans) AND status = 'ok' AND length(chain) > 0
),
snaps AS (
    SELECT cc.scan_id AS scan_id, cc.host AS host, cc.ip AS ip,
           cityHash64(anyIf(cc.cert, cc.depth = 1)) AS leaf_cert,
           cityHash64(anyIf(k.spki_sha256, cc.depth = 1)) AS leaf_key,
           cityHash64(anyIf(k.spki_sha256, cc.depth = 2)) AS issuer_key,
           groupArrayArray(arrayMap(x -> cityHash64(x), arrayFlatten(arrayMap(
               u -> [concat(u, ' 0 1 ', cc.cert), concat(u, ' 0 2 ', k.sha512),
                     concat(u, ' 1 1 ', k.spki_sha256), concat(u, ' 1 2 ', k.spki_sha512)],
               if(cc.depth = 1, ['3', '1'], ['2', '0']))))) AS keys
    FROM (SELECT scan_id, host, ip, depth, cert
          FROM probes ARRAY JOIN chain AS cert, arrayEnumerate(chain) AS depth) AS cc
    LEFT JOIN (
        SELECT sha256, spki_sha256, spki_sha512, lower(hex(SHA512(der))) AS sha512 FROM certificates FINAL
        WHERE sha256 IN (SELECT arrayJoin(chain) FROM starttls_probes WHERE scan_id IN (SELECT scan_id FROM of_scans))
    ) AS k ON k.sha256 = cc.cert
    GROUP BY scan_id, host, ip
)
SELECT s.scan_id AS scan_id, o.at AS at, s.host AS host, s.ip AS ip, s.leaf_cert AS leaf_cert,
       s.leaf_key AS leaf_key, s.issuer_key AS issuer_key, s.keys AS keys
FROM snaps AS s INNER JOIN of_scans AS o ON o.scan_id = s.scan_id;

-- tlsa_snapshots_of(scans Array(String)): per (scan, MX host) whose TLSA lookup answered: the
-- scan's start (at), its records (normalised as above; none when the verdict says no-tlsa), TTL,
-- usages, whether the RRset is secure, and whether the scan stored TLSA records for it at all.
CREATE VIEW IF NOT EXISTS tlsa_snapshots_of {{on_cluster}} AS
WITH
of_scans AS (SELECT scan_id, started_at AS at FROM scans FINAL
             WHERE scan_id IN (SELECT arrayJoin({scans:Array(String)}))),
snaps AS (
    SELECT scan_id, host, groupArrayIf(record, record != 0) AS tlsa, max(ttl) AS ttl,
           arrayStringConcat(arraySort(groupUniqArrayIf(usage, record != 0)), '+') AS usages,
           toUInt8(countIf(record != 0 AND status != 'secure') = 0) AS secure,
           toUInt8(countIf(record != 0) > 0) AS has_records
    FROM (
        SELECT scan_id, mx_host AS host, ttl, toString(usage) AS usage, dnssec_status AS status,
               cityHash64(concat(toString(usage), ' ', toString(selector), ' ',
                                 if(mtype = 0, '1', toString(mtype)), ' ',
                                 if(mtype = 0, lower(hex(SHA256(unhex(data)))), data))) AS record
        FROM tlsa_records FINAL
        WHERE scan_id IN (SELECT scan_id FROM of_scans)
        UNION ALL
        SELECT scan_id, mx_host, toUInt32(0), '', 'secure', toUInt64(0)
        FROM dane_verdicts FINAL
        WHERE scan_id IN (SELECT scan_id FROM of_scans) AND ip = '' AND reason = 'no-tlsa'
    )
    GROUP BY scan_id, host
)
SELECT s.scan_id AS scan_id, o.at AS at, s.host AS host, s.tlsa AS tlsa, s.ttl AS ttl,
       s.usages AS usages, s.secure AS secure, s.has_records AS has_records
FROM snaps AS s INNER JOIN of_scans AS o ON o.scan_id = s.scan_id;

-- host_classes_of(scans Array(String), threshold UInt32, hosts Array(String)): per (scan, MX
-- host with TLSA; with hosts not [], only those) the class of the domains it serves
-- (domain_classes), 'mixed' when they differ.
CREATE VIEW IF NOT EXISTS host_classes_of {{on_cluster}} AS
SELECT scan_id, host, if(uniqExact(class) = 1, any(class), 'mixed') AS class
FROM domain_classes(scans = {scans:Array(String)}, threshold = {threshold:UInt32}, hosts = {hosts:Array(String)})
ARRAY JOIN hosts AS host
WHERE empty({hosts:Array(String)}) OR has({hosts:Array(String)}, host)
GROUP BY scan_id, host;

-- The snapshot tables are read for a few hosts at a time (those whose chain changed), scattered
-- through the sort order: small granules let the primary key skip most of the rest (10 M verdict
-- rows: rollovers 2.8 s with 8192-row granules, 2.2 s with 256).
CREATE TABLE IF NOT EXISTS probe_snapshots {{on_cluster}} (
    scan_id    String,
    at         DateTime('UTC'),
    host       String,
    ip         String,
    leaf_cert  UInt64,
    leaf_key   UInt64,
    issuer_key UInt64,
    keys       Array(UInt64),
    class      String,          -- host_classes_of at derived_scans.threshold; '' when none
    version    UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (host, ip, scan_id)
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS tlsa_snapshots {{on_cluster}} (
    scan_id     String,
    at          DateTime('UTC'),
    host        String,
    tlsa        Array(UInt64),
    ttl         UInt32,
    usages      String,
    secure      UInt8,
    has_records UInt8,
    version     UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (host, scan_id)
SETTINGS index_granularity = 256;

-- Per (host, address, chain presented: leaf, leaf key, issuer key) the first and last snapshot
-- that showed it, filled from probe_snapshots as rows arrive and merged in the background (until
-- then a chain has a row per insert, each with its own range). rollover_switches reads it to find
-- the few addresses that changed their chain inside a window before it reads any snapshot.
CREATE TABLE IF NOT EXISTS host_chains {{on_cluster}} (
    host       String,
    ip         String,
    leaf_cert  UInt64,
    leaf_key   UInt64,
    issuer_key UInt64,
    first_at   SimpleAggregateFunction(min, DateTime('UTC')),
    last_at    SimpleAggregateFunction(max, DateTime('UTC'))
) ENGINE = {{engine:aggregating}}
ORDER BY (host, ip, leaf_cert, leaf_key, issuer_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS host_chains_mv {{on_cluster}} TO host_chains AS
SELECT host, ip, leaf_cert, leaf_key, issuer_key, min(at) AS first_at, max(at) AS last_at
FROM probe_snapshots
GROUP BY host, ip, leaf_cert, leaf_key, issuer_key;

-- One row per scan whose snapshot rows were stored: from which version of its scans row, and
-- the threshold of the classes in its probe_snapshots rows.
CREATE TABLE IF NOT EXISTS derived_scans {{on_cluster}} (
    scan_id      String,
    scan_version UInt64,
    threshold    UInt32,
    derived_at   DateTime('UTC'),
    version      UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY scan_id;

-- rollover_switches(since DateTime, until DateTime, threshold UInt32): one row per (DANE MX host,
-- switch time) among the snapshots started in [since, until]: the change, the TLSA TTL T, the
-- usages before the switch, the outcome (the worst of the host's addresses, each in addresses),
-- the interval, the time the new record was first seen, and the management class of the domains
-- the host serves at the switch ('mixed' when they differ; domain_classes). Rules and decisions:
-- queries/rollovers.sql's header and queries/DECISIONS.md. Replaces 0013's, which derived every
-- snapshot from the raw rows at every call; the judgement is unchanged.
DROP VIEW IF EXISTS rollover_switches {{on_cluster}};

CREATE VIEW IF NOT EXISTS rollover_switches {{on_cluster}} AS
WITH
picked AS (
    SELECT scan_id, started_at AS at FROM scans FINAL
    WHERE started_at >= {since:DateTime} AND started_at <= {until:DateTime}
),
stored AS (  -- picked scans whose stored snapshot rows are current (see the header)
    SELECT scan_id, threshold FROM derived_scans FINAL
    WHERE scan_id IN (SELECT scan_id FROM picked)
      AND (scan_id, scan_version) IN (SELECT scan_id, version FROM scans FINAL
                                      WHERE scan_id IN (SELECT scan_id FROM picked))
),
-- ClickHouse evaluates a CTE at every reference; the stored rows are small, and the views over
-- raw rows get only the picked scans that have none (usually no scan at all).
-- Certificates, keys and TLSA records are compared by cityHash64 of their text; a false match
-- needs a 64-bit collision. Decisions (queries/DECISIONS.md): every (host, address) is judged on
-- its own and the host's outcome at a switch is the worst of its addresses'; the TLSA timeline is
-- the host's, whatever the probes did; a change is judged only when a record designating the old
-- chain does not designate the new one (a renewal that keeps the key under 3 1 1 is no rollover);
-- T is the largest TTL resolvers may still hold at the switch; only a secure TLSA RRset is judged.
candidates AS (  -- (host, address) pairs that may have presented two chains or more in the
                 -- window: two of their chains seen in an insert whose snapshots meet the window
                 -- (host_chains; a superset, the changes are found below), and every pair probed
                 -- in a scan not stored
    SELECT host, ip FROM host_chains
    WHERE first_at <= {until:DateTime} AND last_at >= {since:DateTime}
    GROUP BY host, ip
    HAVING uniqExact(leaf_cert, leaf_key, issuer_key) > 1
    UNION ALL
    SELECT DISTINCT mx_host, ip FROM starttls_probes
    WHERE scan_id IN (SELECT scan_id FROM picked WHERE scan_id NOT IN (SELECT scan_id FROM stored))
),
tlsa_snaps AS (  -- per (scan, host) whose TLSA lookup answered (tlsa_snapshots_of): the
                 -- candidates' stored rows and every row of a scan not stored
    SELECT scan_id, at, host, tlsa, ttl, usages, secure, has_records
    FROM tlsa_snapshots FINAL
    WHERE host IN (SELECT host FROM candidates) AND scan_id IN (SELECT scan_id FROM stored)
    UNION ALL
    SELECT scan_id, at, host, tlsa, ttl, usages, secure, has_records
    FROM tlsa_snapshots_of(scans = (SELECT groupArray(scan_id) FROM picked
                                    WHERE scan_id NOT IN (SELECT scan_id FROM stored)))
),
probe_snaps AS (  -- per (scan, candidate pair) that completed TLS: the chain presented
                  -- (probe_snapshots_of)
    SELECT scan_id, at, host, ip, leaf_cert, leaf_key, issuer_key, keys,
           -- the class stored with the chain, when stored at this threshold (else host_class)
           if((scan_id, {threshold:UInt32}) IN (SELECT scan_id, threshold FROM stored), class, '') AS class
    FROM probe_snapshots FINAL
    WHERE (host, ip) IN (SELECT host, ip FROM candidates) AND scan_id IN (SELECT scan_id FROM stored)
    UNION ALL
    SELECT scan_id, at, host, ip, leaf_cert, leaf_key, issuer_key, keys, ''
    FROM probe_snapshots_of(scans = (SELECT groupArray(scan_id) FROM picked
                                     WHERE scan_id NOT IN (SELECT scan_id FROM stored)))
),
tlsa_hist AS (  -- per host with TLSA records in the window, its TLSA timeline in time order:
                -- (at, records, TTL, usages, secure); only these hosts' chains are judged
    SELECT host, arraySort(x -> x.1, groupArray((toUInt32(at), tlsa, ttl, usages, secure))) AS s
    FROM tlsa_snaps
    GROUP BY host
    HAVING max(has_records) = 1
),
addr_changes AS (  -- per (host, address), every new leaf key, issuer key or leaf certificate
                   -- between consecutive snapshots in which the address completed TLS
    SELECT host, ip, p[i].1 AS t, p[i].2 AS scan_id, p[i - 1].1 AS t0,
           multiIf(p[i].4 != p[i - 1].4, 'leaf-key', p[i].5 != p[i - 1].5, 'issuer-key', 'leaf-cert') AS change,
           p[i].6 AS new_keys, p[i - 1].6 AS old_keys, p[i].7 AS class
    FROM (
        SELECT host, ip,
               arraySort(x -> x.1, groupArray((toUInt32(at), scan_id, leaf_cert, leaf_key,
                                               issuer_key, keys, class))) AS p
        FROM probe_snaps
        GROUP BY host, ip
    )
    ARRAY JOIN arrayFilter(i -> i > 1 AND (p[i].3 != p[i - 1].3 OR p[i].4 != p[i - 1].4 OR p[i].5 != p[i - 1].5),
                           arrayEnumerate(p)) AS i
),
addr_judged AS (  -- methodology.md section 5, per (host, address, change)
    SELECT host, ip, t, t0, scan_id, change, usages, tlsa_ttl, published_at, class,
           multiIf(NOT secure, 'not-secure',
                   2 * tlsa_ttl < t - t0, 'short-ttl',
                   NOT new_at_switch, if(new_later, 'updated-later', 'not-updated'),
                   old_seen AND (NOT old_before OR NOT old_kept), 'early-retract',
                   before = 0 OR NOT old_seen, 'before-window',
                   NOT new_before, 'same-time',
                   last_miss = 0 AND published_at + 2 * tlsa_ttl > t, 'before-window',
                   published_at + 2 * tlsa_ttl > t, 'too-late',
                   'correct') AS outcome
    FROM (
        SELECT host, ip, t, t0, scan_id, change, class,
               -- per TLSA snapshot: (at, matches the new chain, matches the old chain, TTL, records)
               arrayMap(x -> (x.1, hasAny(x.2, new_keys), hasAny(x.2, old_keys), x.3, length(x.2)), s) AS hist,
               arrayLastIndex(x -> x.1 < t, s) AS before,            -- the last TLSA snapshot before t
               arrayLastIndex(x -> x.1 < t AND notEmpty(x.2), s) AS ref,  -- the last with records
               if(ref > 0, ref, arrayFirstIndex(x -> x.1 = t, s)) AS base,
               s[base].4 AS usages, s[base].5 = 1 AS secure,
               -- the TTL resolvers may hold at t: the last one before t, and any larger one
               -- published so recently that 2 TTL has not passed by t
               greatest(s[base].3, arrayMax(arrayMap(x -> if(x.1 < t AND x.1 + 2 * x.3 >= t, x.3, 0), s))) AS tlsa_ttl,
               arrayExists(x -> x.1 = t AND x.2, hist) AS new_at_switch,
               arrayExists(x -> x.1 > t AND x.2, hist) AS new_later,
               hist[before].2 AS new_before,
               hist[before].3 AS old_before,
               arrayExists(x -> x.1 < t AND x.3, hist) AS old_seen,
               arrayMax(arrayMap(x -> if(x.1 <= t AND NOT x.2, x.1, 0), hist)) AS last_miss,
               arrayMin(arrayMap(x -> if(x.1 > last_miss AND x.1 <= t, x.1, 4294967295), hist)) AS published_at,
               arrayAll(x -> x.3 OR x.1 < published_at OR x.1 >= t, hist) AS old_kept,
               -- the records that designated the old chain just before t
               arrayFilter(r -> has(old_keys, r), s[base].2) AS old_records
        FROM addr_changes AS c
        INNER JOIN tlsa_hist AS h ON h.host = c.host
        WHERE base > 0 AND (length(s[base].2) > 0)
          AND (empty(old_records) OR NOT arrayAll(r -> has(new_keys, r), old_records))
    )
),
judged AS (  -- per (host, switch time): the worst outcome of its addresses (wrong before
             -- correct, any judgement before none), with each address's outcome
    SELECT a_host AS host, toDateTime(a_t, 'UTC') AS at, any(a_scan) AS scan_id, a_t AS t, min(a_t0) AS t0,
           argMin(a_change, rank) AS change, argMin(a_ttl, rank) AS tlsa_ttl,
           argMin(a_usages, rank) AS usages, argMin(a_outcome, rank) AS outcome,
           argMin(a_published, rank) AS published_at, max(a_class) AS class,
           arraySort(groupArray(concat(a_ip, ' ', a_outcome))) AS addresses
    FROM (SELECT host AS a_host, ip AS a_ip, t AS a_t, t0 AS a_t0, scan_id AS a_scan, change AS a_change,
                 tlsa_ttl AS a_ttl, usages AS a_usages, outcome AS a_outcome, published_at AS a_published,
                 class AS a_class,
                 indexOf(['not-updated', 'updated-later', 'early-retract', 'same-time', 'too-late',
                          'correct', 'before-window', 'short-ttl', 'not-secure'], outcome) AS rank
          FROM addr_judged)
    GROUP BY a_host, a_t
),
host_class AS (  -- the class of the domains each host serves at the switch, for the snapshots
                 -- without one stored at this threshold (host_classes_of; usually none), kept for
                 -- the candidates' hosts only: every host of judged is one. The hosts are not
                 -- passed to the view: a parameter from a sub-query is inlined only while its
                 -- value is small (with 150,000 hosts ClickHouse said "Substitution `hosts` is not
                 -- set"), so every host of those snapshots is classified
    SELECT scan_id, host, class
    FROM host_classes_of(scans = (SELECT groupArray(scan_id) FROM picked
                                  WHERE (scan_id, {threshold:UInt32}) NOT IN (SELECT scan_id, threshold FROM stored)),
                         threshold = {threshold:UInt32}, hosts = [])
    WHERE host IN (SELECT host FROM candidates)
)
SELECT j.host AS host, j.at AS at, j.scan_id AS scan_id, j.t AS t, j.t0 AS t0, j.change AS change,
       j.tlsa_ttl AS tlsa_ttl, j.usages AS usages, j.outcome AS outcome,
       j.published_at AS published_at, j.addresses AS addresses,
       multiIf(j.class != '', j.class, h.class != '', h.class, 'unknown') AS class
FROM judged AS j
LEFT JOIN host_class AS h ON h.scan_id = j.scan_id AND h.host = j.host;

-- The scans closed before this migration: derived here, as a close would (threshold 50, the
-- methodology's; workers/store/snapshots.py holds the same three statements).
INSERT INTO probe_snapshots
SELECT p.scan_id, p.at, p.host, p.ip, p.leaf_cert, p.leaf_key, p.issuer_key, p.keys, c.class, 1
FROM probe_snapshots_of(scans = (SELECT groupArray(scan_id) FROM scans FINAL WHERE finished_at > toDateTime(0))) AS p
LEFT JOIN host_classes_of(scans = (SELECT groupArray(scan_id) FROM scans FINAL WHERE finished_at > toDateTime(0)),
                          threshold = 50, hosts = []) AS c ON c.scan_id = p.scan_id AND c.host = p.host;

INSERT INTO tlsa_snapshots
SELECT scan_id, at, host, tlsa, ttl, usages, secure, has_records, 1
FROM tlsa_snapshots_of(scans = (SELECT groupArray(scan_id) FROM scans FINAL WHERE finished_at > toDateTime(0)));

INSERT INTO derived_scans
SELECT scan_id, version, 50, now(), 1 FROM scans FINAL WHERE finished_at > toDateTime(0);
