-- The blocks that more than one analysis file needs, written once (issue 17). They take query
-- parameters (a window, a threshold), so they are parameterized views: an analysis file reads
-- them as rollover_judgements(since = ..., until = ..., threshold = ...) and
-- domain_classes(scans = [...], hosts = [...], threshold = ...), and each file still runs alone in any ClickHouse client once
-- the schema is migrated. What does not depend on a parameter is stored per (MX host, snapshot)
-- by migration 0013. ClickHouse 18.16 (Debian's server) has neither parameterized views nor query
-- parameters, so it cannot run the analysis files at all: the migrator leaves these views out
-- there (workers/store/engines.py, EngineProfile.parameterized_views).
--
-- domain_classes(scans Array(String), hosts Array(Tuple(String, String)), threshold UInt32): the
-- management class of every domain with a TLSA MX host in the given scans (methodology.md
-- section 4, decisions in queries/DECISIONS.md; management_classes.sql says each rule), and of
-- the domains that the MX host of each (scan, host) pair of hosts serves in that scan (the loads
-- still count every domain of the scan).
-- One row per (scan, domain): scan_id, domain, mx_status, hosts, mx_kinds, ns_kinds, class,
-- hosts_valid, first_invalid.
CREATE VIEW IF NOT EXISTS domain_classes {{on_cluster}} AS
WITH
pair_rows AS (  -- the rows (FINAL) of the domains of the (scan, host) pairs, one range of
                -- mx_domains each; the only place that names the pairs, read once (scalar)
    SELECT r.1 AS scan_id, r.2 AS domain, r.3 AS registered, r.4 AS mx, r.5 AS mx_registered, r.6 AS ns,
           r.7 AS ns_registered, r.8 AS mx_dnssec_status
    FROM (SELECT arrayJoin((
        SELECT groupArray((scan_id, domain, registered, mx, mx_registered, ns, ns_registered, mx_dnssec_status))
        FROM mx_domains FINAL
        WHERE (scan_id, mx_host) IN (SELECT arrayJoin({hosts:Array(Tuple(String, String))})) AND null_mx = 0)) AS r)
),
class_scans AS (
    SELECT arrayJoin({scans:Array(String)}) AS scan_id
    UNION DISTINCT
    SELECT DISTINCT scan_id FROM pair_rows
),
-- Registered domains come from the Public Suffix List, stored with each domain row (migration
-- 0008); rows written before it fall back to ClickHouse's cutToFirstSignificantSubdomain.
-- ClickHouse evaluates a CTE at every FROM/JOIN that names it, but builds the set of an
-- IN (SELECT ...) once per query: so the loads and verdicts below are only read as IN sets, and
-- each domain is classified from its own row (arrays over its MX and NS hosts): no join, no
-- GROUP BY over the (domain, MX host) pairs. With hosts given, every set below is restricted to
-- what the domains of those hosts need (the sets' subqueries are empty when no host is given).
class_rows AS (  -- the domains to classify (no null MX): every domain of the scans, and those
                 -- that the host of a (scan, host) pair serves (mx_domains: one range per pair)
    SELECT * FROM (
        SELECT scan_id, domain, registered, mx, mx_registered, ns, ns_registered, mx_dnssec_status
        FROM domains FINAL
        WHERE scan_id IN (SELECT arrayJoin({scans:Array(String)})) AND null_mx = 0
        UNION ALL
        SELECT scan_id, domain, registered, mx, mx_registered, ns, ns_registered, mx_dnssec_status
        FROM pair_rows
        WHERE NOT has({scans:Array(String)}, scan_id))
    LIMIT 1 BY scan_id, domain
),
class_hosts AS (  -- hosts given: the MX hosts of those domains
    SELECT scan_id, arrayJoin(mx) AS host FROM pair_rows
),
class_ips AS (  -- hosts given: their addresses
    SELECT scan_id, arrayJoin(records) AS ip
    FROM dns_rrsets FINAL
    WHERE (scan_id, qname) IN (SELECT scan_id, host FROM class_hosts) AND qtype IN ('A', 'AAAA')
      AND status = 'NOERROR'
),
mx_busy AS (  -- rule 3: registered domains (Public Suffix List) that are the MX domain of more than threshold domains
    SELECT scan_id, reg
    FROM registered_loads
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND side = 'MX'
      AND (notEmpty({scans:Array(String)})
           OR (scan_id, reg) IN (SELECT scan_id, arrayJoin(if(length(mx_registered) = length(mx), mx_registered,
                                        arrayMap(x -> cutToFirstSignificantSubdomain(x), mx)))
                                 FROM pair_rows))
    GROUP BY scan_id, reg
    HAVING uniqExactMerge(domains) > {threshold:UInt32}
),
ns_busy AS (  -- the same for NS hosts
    SELECT scan_id, reg
    FROM registered_loads
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND side = 'NS'
      AND (notEmpty({scans:Array(String)})
           OR (scan_id, reg) IN (SELECT scan_id, arrayJoin(if(length(ns_registered) = length(ns), ns_registered,
                                        arrayMap(x -> cutToFirstSignificantSubdomain(x), ns)))
                                 FROM pair_rows))
    GROUP BY scan_id, reg
    HAVING uniqExactMerge(domains) > {threshold:UInt32}
),
shared_ip_hosts AS (  -- rule 1: MX hosts with an address shared by more than threshold MX host names
    SELECT DISTINCT scan_id, arrayJoin(hosts) AS host
    FROM (
        SELECT scan_id, ip, groupUniqArray(qname) AS hosts
        FROM address_names FINAL
        WHERE scan_id IN (SELECT scan_id FROM class_scans) AND status = 'NOERROR'
          AND (notEmpty({scans:Array(String)}) OR (scan_id, ip) IN (SELECT scan_id, ip FROM class_ips))
          AND (scan_id, qname) IN (  -- names that are an MX host of a domain of the scan
              SELECT scan_id, mx_host FROM mx_domains
              WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0
                AND (notEmpty({scans:Array(String)})
                     OR (scan_id, mx_host) IN (SELECT scan_id, qname FROM address_names
                                               WHERE (scan_id, ip) IN (SELECT scan_id, ip FROM class_ips))))
        GROUP BY scan_id, ip
        HAVING length(hosts) > {threshold:UInt32}
    )
),
tlsa_hosts AS (  -- MX hosts with a TLSA RRset (secure or not) and their verdict on the name
    SELECT scan_id, mx_host AS host, valid, reason
    FROM dane_verdicts FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND ip = ''
      AND (notEmpty({scans:Array(String)}) OR (scan_id, mx_host) IN (SELECT scan_id, host FROM class_hosts))
      AND NOT (reason IN ('no-tlsa', 'tlsa-lookup-failed') OR (reason = 'no-address' AND rfc_outcome = 'no-dane'))
),
sides AS (  -- per domain (no null MX): its MX hosts with TLSA (the domain itself when implicit),
            -- the side of each (methodology section 4, the first rule that applies), the NS sides
            -- (rules 2 and 3 only), and the smallest name among its invalid TLSA MX hosts
    SELECT scan_id, domain, mx_dnssec_status AS mx_status,
           arrayFilter(h -> (scan_id, h) IN (SELECT scan_id, host FROM tlsa_hosts), mx) AS hosts,
           arraySort(arrayDistinct(arrayMap(
               h -> multiIf((scan_id, h) IN (SELECT scan_id, host FROM shared_ip_hosts), 'outsourced',
                            if(length(mx_registered) = length(mx), mx_registered[indexOf(mx, h)], cutToFirstSignificantSubdomain(h)) = if(registered != '', registered, cutToFirstSignificantSubdomain(domain)), 'self',
                            (scan_id, if(length(mx_registered) = length(mx), mx_registered[indexOf(mx, h)], cutToFirstSignificantSubdomain(h))) IN (SELECT scan_id, reg FROM mx_busy), 'outsourced',
                            'unknown'), hosts))) AS mx_kinds,
           arraySort(arrayDistinct(arrayMap(
               n -> multiIf(if(length(ns_registered) = length(ns), ns_registered[indexOf(ns, n)], cutToFirstSignificantSubdomain(n)) = if(registered != '', registered, cutToFirstSignificantSubdomain(domain)), 'self',
                            (scan_id, if(length(ns_registered) = length(ns), ns_registered[indexOf(ns, n)], cutToFirstSignificantSubdomain(n))) IN (SELECT scan_id, reg FROM ns_busy), 'outsourced',
                            'unknown'), ns))) AS ns_kinds,
           arraySort(arrayFilter(h -> (scan_id, h) NOT IN (SELECT scan_id, host FROM tlsa_hosts WHERE valid = 1), hosts)) AS invalid_hosts
    FROM class_rows
),
classified AS (  -- one row per (scan, domain with a TLSA MX host)
    SELECT scan_id, domain, mx_status, hosts, mx_kinds, ns_kinds,
           -- queries/DECISIONS.md: the MX side decides SO, mixed and unknown-MX whatever the NS
           -- side; only self-managed MXs look at NS, where self + outsourced counts as self
           multiIf(mx_kinds = ['outsourced'], 'SO',
                   has(mx_kinds, 'unknown'), 'unknown',
                   length(mx_kinds) > 1, 'mixed',
                   has(ns_kinds, 'unknown'), 'unknown',
                   ns_kinds = ['outsourced'], 'SSDO',
                   'SSDS') AS class,
           toUInt8(empty(invalid_hosts)) AS hosts_valid,
           invalid_hosts[1] AS first_invalid  -- '' when every TLSA MX host validates
    FROM sides
    WHERE notEmpty(hosts)
)
SELECT scan_id, domain, mx_status, hosts, mx_kinds, ns_kinds, class, hosts_valid, first_invalid
FROM classified;

-- rollover_changes(since DateTime, until DateTime): every key change of a DANE MX host in the
-- window, judged with methodology.md section 5 as decided in queries/DECISIONS.md (rollovers.sql
-- says each outcome); one row per (host, switch time): host, at, scan_id, t, t0, change,
-- tlsa_ttl, usages, outcome, published_at, addresses.
CREATE VIEW IF NOT EXISTS rollover_changes {{on_cluster}} AS
WITH
picked AS (
    SELECT scan_id, started_at AS at FROM scans FINAL
    WHERE started_at >= {since:DateTime} AND started_at <= {until:DateTime}
),
-- ClickHouse evaluates a CTE at every reference: each one below is read once, and the history of
-- an address is one array, not a join of its snapshots with its changes. Certificates, keys and
-- TLSA records are compared by cityHash64 of their text; a false match needs a 64-bit collision.
-- Decisions (queries/DECISIONS.md): every (host, address) is judged on its own and the host's
-- outcome at a switch is the worst of its addresses'; the TLSA timeline is the host's, whatever
-- the probes did; a change is judged only when a record designating the old chain does not
-- designate the new one (a renewal that keeps the key under 3 1 1 is no rollover); T is the
-- largest TTL resolvers may still hold at the switch; only a secure TLSA RRset is judged.
timeline AS (  -- per (host, address) that completed TLS in the window and presented another leaf
               -- or issuer certificate in one of its snapshots than in another: its snapshots in
               -- time order, (at, scan, leaf, issuer) by cityHash64 of the certificates' SHA-256
               -- (probe_snapshots, migration 0013); the other addresses have no change to judge.
               -- Read once: a scalar subquery is evaluated once per query, a CTE at every reference
    SELECT p.1 AS host, p.2 AS ip, p.3 AS s
    FROM (SELECT arrayJoin((
        SELECT groupArray((host, ip, s)) FROM (
            SELECT f.mx_host AS host, f.ip AS ip,
                   arraySort(x -> x.1, groupArray((toUInt32(t.at), f.scan_id, f.leaf, f.issuer))) AS s
            FROM probe_snapshots AS f FINAL
            INNER JOIN picked AS t ON t.scan_id = f.scan_id
            WHERE (f.mx_host, f.ip) IN (
                      SELECT mx_host, ip FROM probe_snapshots
                      WHERE scan_id IN (SELECT scan_id FROM picked) AND status = 'ok' AND leaf != cityHash64('')
                      GROUP BY mx_host, ip
                      HAVING min(leaf) != max(leaf) OR min(issuer) != max(issuer))
              AND f.status = 'ok' AND f.leaf != cityHash64('')
              AND f.mx_host IN (SELECT mx_host FROM tlsa_snapshots
                                WHERE scan_id IN (SELECT scan_id FROM picked) AND record != 0)
            GROUP BY f.mx_host, f.ip))) AS p)
),
steps AS (  -- consecutive snapshots of an address with another leaf or issuer certificate
    SELECT host, ip, s[i].1 AS t, s[i].2 AS scan_id, s[i - 1].1 AS t0, s[i - 1].2 AS scan0
    FROM timeline
    ARRAY JOIN arrayFilter(i -> i > 1 AND (s[i].3 != s[i - 1].3 OR s[i].4 != s[i - 1].4), arrayEnumerate(s)) AS i
),
step_chains AS (  -- the chain presented on either side of such a step (the row of the highest
                  -- version, as FINAL gives it), read once
    SELECT c.1 AS scan_id, c.2 AS host, c.3 AS ip, c.4 AS chain
    FROM (SELECT arrayJoin((
        SELECT groupArray((scan_id, mx_host, ip, chain)) FROM (
            SELECT scan_id, mx_host, ip, argMax(chain, version) AS chain
            FROM probe_snapshots
            PREWHERE (mx_host, ip, scan_id) IN (SELECT host, ip, arrayJoin([scan_id, scan0]) FROM steps)
            GROUP BY scan_id, mx_host, ip))) AS c)
),
probe_snaps AS (  -- per (scan, host, address) of a step: leaf, leaf key, issuer key, and every TLSA
                  -- record "u s m data" that designates a certificate of the chain (usage 3/1 at
                  -- the leaf, 2/0 above it). Matching data as the verdict computes it
                  -- (workers/dane/certs.py CertDigests.association): selector 0 the certificate,
                  -- 1 its SubjectPublicKeyInfo; mtype 1 SHA-256, 2 SHA-512, 0 the full DER, which
                  -- is compared through its SHA-256 (records are normalised the same way below).
                  -- Read once (scalar), as the old and the new side of each step
    SELECT p.1 AS scan_id, p.2 AS host, p.3 AS ip, p.4 AS leaf_cert, p.5 AS leaf_key, p.6 AS issuer_key, p.7 AS keys
    FROM (SELECT arrayJoin((SELECT groupArray((scan_id, host, ip, leaf_cert, leaf_key, issuer_key, keys)) FROM (
        SELECT cc.scan_id AS scan_id, cc.host AS host, cc.ip AS ip,
               cityHash64(anyIf(cc.cert, cc.depth = 1)) AS leaf_cert,
               cityHash64(anyIf(k.spki_sha256, cc.depth = 1)) AS leaf_key,
               cityHash64(anyIf(k.spki_sha256, cc.depth = 2)) AS issuer_key,
               groupArrayArray(arrayMap(x -> cityHash64(x), arrayFlatten(arrayMap(
                   u -> [concat(u, ' 0 1 ', cc.cert), concat(u, ' 0 2 ', k.sha512),
                         concat(u, ' 1 1 ', k.spki_sha256), concat(u, ' 1 2 ', k.spki_sha512)],
                   if(cc.depth = 1, ['3', '1'], ['2', '0']))))) AS keys
        FROM (SELECT scan_id, host, ip, depth, cert
              FROM step_chains ARRAY JOIN chain AS cert, arrayEnumerate(chain) AS depth) AS cc
        LEFT JOIN (
            SELECT sha256, spki_sha256, spki_sha512, lower(hex(SHA512(der))) AS sha512 FROM certificates FINAL
            WHERE sha256 IN (SELECT arrayJoin(chain) FROM step_chains)
        ) AS k ON k.sha256 = cc.cert
        GROUP BY scan_id, host, ip))) AS p)
),
tlsa_snaps AS (  -- per (scan, host with a change) whose TLSA lookup answered: its records
                 -- (tlsa_snapshots: normalised as above; none when the verdict says no-tlsa), TTL,
                 -- usages and whether the RRset is secure
    SELECT scan_id, mx_host AS host, groupArrayIf(record, record != 0) AS tlsa, max(ttl) AS ttl,
           arrayStringConcat(arraySort(groupUniqArrayIf(toString(usage), record != 0)), '+') AS usages,
           toUInt8(countIf(record != 0 AND dnssec_status != 'secure') = 0) AS secure
    FROM tlsa_snapshots FINAL
    WHERE mx_host IN (SELECT host FROM steps) AND scan_id IN (SELECT scan_id FROM picked)
      AND (record != 0 OR no_tlsa = 1)
    GROUP BY scan_id, mx_host
),
tlsa_hist AS (  -- per host, its TLSA timeline in time order: (at, records, TTL, usages, secure)
    SELECT f.host AS host,
           arraySort(x -> x.1, groupArray((toUInt32(t.at), f.tlsa, f.ttl, f.usages, f.secure))) AS s
    FROM tlsa_snaps AS f
    INNER JOIN picked AS t ON t.scan_id = f.scan_id
    GROUP BY f.host
),
addr_changes AS (  -- per (host, address), every new leaf key, issuer key or leaf certificate
                   -- between consecutive snapshots in which the address completed TLS
    SELECT c.host AS host, c.ip AS ip, c.t AS t, c.scan_id AS scan_id, c.t0 AS t0,
           multiIf(n.leaf_key != o.leaf_key, 'leaf-key', n.issuer_key != o.issuer_key, 'issuer-key', 'leaf-cert') AS change,
           n.keys AS new_keys, o.keys AS old_keys
    FROM steps AS c
    INNER JOIN probe_snaps AS n ON n.host = c.host AND n.ip = c.ip AND n.scan_id = c.scan_id
    INNER JOIN probe_snaps AS o ON o.host = c.host AND o.ip = c.ip AND o.scan_id = c.scan0
    WHERE n.leaf_cert != o.leaf_cert OR n.leaf_key != o.leaf_key OR n.issuer_key != o.issuer_key
),
addr_judged AS (  -- methodology.md section 5, per (host, address, change)
    SELECT host, ip, t, t0, scan_id, change, usages, tlsa_ttl, published_at,
           multiIf(NOT secure, 'not-secure',
                   2 * tlsa_ttl < t - t0, 'short-ttl',
                   NOT new_at_switch, if(new_later, 'updated-later', 'not-updated'),
                   old_seen AND (NOT old_before OR NOT old_kept), 'early-retract',
                   before = 0, 'before-window',
                   NOT new_before, 'same-time',
                   last_miss = 0 AND published_at + 2 * tlsa_ttl > t, 'before-window',
                   published_at + 2 * tlsa_ttl > t, 'too-late',
                   'correct') AS outcome
    FROM (
        SELECT host, ip, t, t0, scan_id, change,
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
judged_rows AS (  -- per (host, switch time): the worst outcome of its addresses (wrong before
             -- correct, any judgement before none), with each address's outcome
    SELECT a_host AS host, toDateTime(a_t, 'UTC') AS at, any(a_scan) AS scan_id, a_t AS t, min(a_t0) AS t0,
           argMin(a_change, rank) AS change, argMin(a_ttl, rank) AS tlsa_ttl,
           argMin(a_usages, rank) AS usages, argMin(a_outcome, rank) AS outcome,
           argMin(a_published, rank) AS published_at,
           arraySort(groupArray(concat(a_ip, ' ', a_outcome))) AS addresses
    FROM (SELECT host AS a_host, ip AS a_ip, t AS a_t, t0 AS a_t0, scan_id AS a_scan, change AS a_change,
                 tlsa_ttl AS a_ttl, usages AS a_usages, outcome AS a_outcome, published_at AS a_published,
                 indexOf(['not-updated', 'updated-later', 'early-retract', 'same-time', 'too-late',
                          'correct', 'before-window', 'short-ttl', 'not-secure'], outcome) AS rank
          FROM addr_judged)
    GROUP BY a_host, a_t
)
SELECT host, at, scan_id, t, t0, change, tlsa_ttl, usages, outcome, published_at, addresses
FROM judged_rows;

-- rollover_judgements(since DateTime, until DateTime, threshold UInt32): rollover_changes with
-- class, the management class of the domains the host serves at the switch ('mixed' when they
-- differ, 'unknown' when none; domain_classes with the threshold). The changes are read once, as a
-- scalar subquery (a CTE would be evaluated again at each reference).
CREATE VIEW IF NOT EXISTS rollover_judgements {{on_cluster}} AS
WITH
judged AS (
    SELECT j.1 AS host, j.2 AS at, j.3 AS scan_id, j.4 AS t, j.5 AS t0, j.6 AS change, j.7 AS tlsa_ttl,
           j.8 AS usages, j.9 AS outcome, j.10 AS published_at, j.11 AS addresses
    FROM (SELECT arrayJoin((
        SELECT groupArray((host, at, scan_id, t, t0, change, tlsa_ttl, usages, outcome, published_at, addresses))
        FROM rollover_changes(since = {since:DateTime}, until = {until:DateTime}))) AS j)
),
host_class AS (
    SELECT scan_id, host, if(uniqExact(class) = 1, any(class), 'mixed') AS class
    FROM domain_classes(scans = CAST([] AS Array(String)),
                        hosts = (SELECT groupUniqArray((scan_id, host)) FROM judged),
                        threshold = {threshold:UInt32})
    ARRAY JOIN hosts AS host
    GROUP BY scan_id, host
)
SELECT j.host AS host, j.at AS at, j.scan_id AS scan_id, j.t AS t, j.t0 AS t0, j.change AS change,
       j.tlsa_ttl AS tlsa_ttl, j.usages AS usages, j.outcome AS outcome, j.published_at AS published_at,
       j.addresses AS addresses, if(h.class = '', 'unknown', h.class) AS class
FROM judged AS j
LEFT JOIN host_class AS h ON h.scan_id = j.scan_id AND h.host = j.host;
