-- rollovers: every key change of a DANE MX host between consecutive snapshots, judged with the
-- rules of methodology.md section 5. Paper: section 5.2 (key rollovers: "87-92 % of MXs roll
-- over wrongly at least once; 72-84 % ignore the TTL") and the rollover-outcomes-over-time figure.
-- A change is a new leaf key, issuer key or leaf certificate at snapshot t (the first snapshot
-- that shows it), with T the TLSA TTL before the switch:
--   short-ttl      2T is shorter than the snapshot interval: cannot be judged;
--   not-updated / updated-later   the records at t do not match the new chain, and never / only
--                  later do;
--   same-time      the records matched the new chain only from t on;
--   early-retract  a record for the old chain was gone before t;
--   too-late       a record for the new chain was first visible after t - 2T;
--   correct        visible at t - 2T and the old one kept until t ("current + next", "3 1 1 + 2 1 1").
-- A record "matches" a chain when its "usage selector mtype data" equals one of the chain's digests
-- (usages 3/1 at the leaf, 2/0 above; 0 1, 1 1, 1 2 forms). class: the management class of the
-- domains the host serves at t (methodology section 4; 'mixed' when they differ).
-- Parameters: since DateTime, until DateTime (snapshot times), threshold UInt32 (50).
WITH
picked AS (
    SELECT scan_id, started_at AS at FROM scans FINAL
    WHERE started_at >= {since:DateTime} AND started_at <= {until:DateTime}
),
-- BEGIN rollovers (the same text in every file that judges rollovers; tests check it)
-- ClickHouse evaluates a CTE at every reference: each one below is read once, and the history of
-- a host is one array (one GROUP BY host), not a join of its snapshots with its changes.
-- Certificates, keys and TLSA records are compared by cityHash64 of their text (the arrays of
-- 10 M snapshots fit in memory that way); a false match needs a 64-bit collision.
chains AS (  -- the chain each MX host presented in each snapshot (its lowest address that completed TLS)
    SELECT scan_id, mx_host AS host, argMin(chain, ip) AS presented
    FROM starttls_probes FINAL
    WHERE scan_id IN (SELECT scan_id FROM picked) AND status = 'ok' AND length(chain) > 0
      AND mx_host IN (SELECT mx_host FROM tlsa_records WHERE scan_id IN (SELECT scan_id FROM picked))
    GROUP BY scan_id, mx_host
),
snapshots AS (  -- per (scan, MX host with a chain), in one GROUP BY over its chain's certificates
                -- and its TLSA records: leaf, leaf key, issuer key, every TLSA record text
                -- "u s m data" that would match the chain (usage 3/1 at the leaf, 2/0 above it;
                -- selector/matching type 0 1, 1 1 and 1 2: the digests the certificates table
                -- keeps), and the TLSA RRset, its TTL and usages
    SELECT scan_id, host,
           cityHash64(anyIf(cert, depth = 1)) AS leaf_cert,
           cityHash64(anyIf(spki, depth = 1)) AS leaf_key,
           cityHash64(anyIf(spki, depth = 2)) AS issuer_key,
           groupArrayArray(keys) AS keys,
           groupArrayIf(record, depth = 0) AS tlsa,
           maxIf(ttl, depth = 0) AS ttl,
           arrayStringConcat(arraySort(groupUniqArrayIf(usage, depth = 0)), '+') AS usages
    FROM (
        SELECT cc.scan_id AS scan_id, cc.host AS host, cc.depth AS depth, cc.cert AS cert,
               k.spki_sha256 AS spki,
               arrayMap(x -> cityHash64(x), arrayFlatten(arrayMap(
                   u -> [concat(u, ' 0 1 ', cc.cert), concat(u, ' 1 1 ', k.spki_sha256),
                         concat(u, ' 1 2 ', k.spki_sha512)],
                   if(cc.depth = 1, ['3', '1'], ['2', '0'])))) AS keys,
               toUInt64(0) AS record, toUInt32(0) AS ttl, '' AS usage
        FROM (SELECT scan_id, host, depth, cert
              FROM chains ARRAY JOIN presented AS cert, arrayEnumerate(presented) AS depth) AS cc
        LEFT JOIN (
            SELECT sha256, spki_sha256, spki_sha512 FROM certificates FINAL
            WHERE sha256 IN (SELECT arrayJoin(chain) FROM starttls_probes WHERE scan_id IN (SELECT scan_id FROM picked))
        ) AS k ON k.sha256 = cc.cert
        UNION ALL
        SELECT scan_id, mx_host, 0, '', '', [],
               cityHash64(concat(toString(usage), ' ', toString(selector), ' ', toString(mtype), ' ', data)),
               ttl, toString(usage)
        FROM tlsa_records FINAL
        WHERE scan_id IN (SELECT scan_id FROM picked)
    )
    GROUP BY scan_id, host
    HAVING countIf(depth > 0) > 0
),
hosts AS (  -- per MX host, its snapshots in time order:
            -- (at, scan, leaf cert, leaf key, issuer key, chain digests, TLSA records, TTL, usages)
    SELECT f.host AS host,
           arraySort(x -> x.1, groupArray((t.at, f.scan_id, f.leaf_cert, f.leaf_key, f.issuer_key, f.keys,
                                           f.tlsa, f.ttl, f.usages))) AS s
    FROM snapshots AS f
    INNER JOIN picked AS t ON t.scan_id = f.scan_id
    GROUP BY f.host
),
histories AS (  -- per change (a new leaf key, issuer key or leaf certificate between consecutive
                -- snapshots, at index i): every snapshot of the host, whether its records matched
                -- the new / old chain
    SELECT host, s[i].1 AS at, s[i].2 AS scan_id, s[i - 1].1 AS prev_at,
           multiIf(s[i].4 != s[i - 1].4, 'leaf-key', s[i].5 != s[i - 1].5, 'issuer-key', 'leaf-cert') AS change,
           if(s[i - 1].8 > 0, s[i - 1].8, s[i].8) AS tlsa_ttl,
           if(s[i - 1].9 != '', s[i - 1].9, s[i].9) AS usages,
           arrayMap(x -> (toUInt32(x.1), hasAny(x.7, s[i].6), hasAny(x.7, s[i - 1].6)), s) AS hist
    FROM hosts
    ARRAY JOIN arrayFilter(i -> i > 1 AND (s[i].3 != s[i - 1].3 OR s[i].4 != s[i - 1].4 OR s[i].5 != s[i - 1].5)
                                AND (length(s[i].7) > 0 OR s[i - 1].8 > 0), arrayEnumerate(s)) AS i
),
judged AS (  -- methodology.md section 5
    SELECT host, at, scan_id, prev_at, change, tlsa_ttl, usages,
           toUInt32(at) AS t, toUInt32(prev_at) AS t0,
           arrayExists(x -> x.1 = t AND x.2, hist) AS new_at_switch,
           arrayExists(x -> x.1 = t0 AND x.2, hist) AS new_before,
           arrayExists(x -> x.1 > t AND x.2, hist) AS new_later,
           arrayMax(arrayMap(x -> if(x.1 <= t AND NOT x.2, x.1, 0), hist)) AS last_miss,
           arrayMin(arrayMap(x -> if(x.1 > last_miss AND x.1 <= t, x.1, 4294967295), hist)) AS published_at,
           arrayAll(x -> x.3 OR x.1 < published_at OR x.1 >= t, hist) AS old_kept,
           multiIf(2 * tlsa_ttl < t - t0, 'short-ttl',
                   NOT new_at_switch, if(new_later, 'updated-later', 'not-updated'),
                   NOT new_before, 'same-time',
                   NOT old_kept, 'early-retract',
                   published_at + 2 * tlsa_ttl > t, 'too-late',
                   'correct') AS outcome
    FROM histories
)
-- END rollovers
,
class_scans AS (SELECT scan_id FROM picked),
-- BEGIN classification (the same text in every file that classifies; tests check it)
-- Registered domains come from the Public Suffix List, stored with each domain row (migration
-- 0008); rows written before it fall back to ClickHouse's cutToFirstSignificantSubdomain.
-- ClickHouse evaluates a CTE at every FROM/JOIN that names it, but builds the set of an
-- IN (SELECT ...) once per query: so the loads and verdicts below are only read as IN sets, and
-- each domain is classified from its own row (arrays over its MX and NS hosts): no join, no
-- GROUP BY over the (domain, MX host) pairs.
mx_busy AS (  -- rule 3: registered domains (Public Suffix List) that are the MX domain of more than {threshold} domains
    SELECT scan_id, reg
    FROM (SELECT scan_id, domain, arrayJoin(if(length(mx_registered) = length(mx), mx_registered,
                 arrayMap(x -> cutToFirstSignificantSubdomain(x), mx))) AS reg FROM domains FINAL
          WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0)
    GROUP BY scan_id, reg
    HAVING uniqExact(domain) > {threshold:UInt32}
),
ns_busy AS (  -- the same for NS hosts
    SELECT scan_id, reg
    FROM (SELECT scan_id, domain, arrayJoin(if(length(ns_registered) = length(ns), ns_registered,
                 arrayMap(x -> cutToFirstSignificantSubdomain(x), ns))) AS reg FROM domains FINAL
          WHERE scan_id IN (SELECT scan_id FROM class_scans))
    GROUP BY scan_id, reg
    HAVING uniqExact(domain) > {threshold:UInt32}
),
shared_ip_hosts AS (  -- rule 1: MX hosts with an address shared by more than {threshold} MX host names
    SELECT DISTINCT scan_id, arrayJoin(hosts) AS host
    FROM (
        SELECT scan_id, ip, groupUniqArray(host) AS hosts
        FROM (
            SELECT scan_id, qname AS host, arrayJoin(records) AS ip
            FROM dns_rrsets FINAL
            WHERE scan_id IN (SELECT scan_id FROM class_scans) AND qtype IN ('A', 'AAAA') AND status = 'NOERROR'
              AND (scan_id, qname) IN (SELECT scan_id, arrayJoin(mx) FROM domains FINAL
                                       WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0)
        )
        GROUP BY scan_id, ip
        HAVING length(hosts) > {threshold:UInt32}
    )
),
tlsa_hosts AS (  -- MX hosts with a TLSA RRset (secure or not) and their verdict on the name
    SELECT scan_id, mx_host AS host, valid, reason
    FROM dane_verdicts FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND ip = ''
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
    FROM domains FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0
),
classified AS (  -- one row per (scan, domain with a TLSA MX host)
    SELECT scan_id, domain, mx_status, hosts, mx_kinds, ns_kinds,
           multiIf(mx_kinds = ['outsourced'], 'SO',
                   has(mx_kinds, 'unknown') OR has(ns_kinds, 'unknown'), 'unknown',
                   length(mx_kinds) > 1 OR length(ns_kinds) > 1, 'mixed',
                   ns_kinds = ['outsourced'], 'SSDO',
                   'SSDS') AS class,
           toUInt8(empty(invalid_hosts)) AS hosts_valid,
           invalid_hosts[1] AS first_invalid  -- '' when every TLSA MX host validates
    FROM sides
    WHERE notEmpty(hosts)
)
-- END classification
, host_class AS (
    SELECT scan_id, host, if(uniqExact(class) = 1, any(class), 'mixed') AS class
    FROM classified ARRAY JOIN hosts AS host
    GROUP BY scan_id, host
)
SELECT j.at AS switch_at, j.host AS mx_host, j.change AS change, j.tlsa_ttl AS tlsa_ttl,
       j.usages AS usages, if(h.class = '', 'unknown', h.class) AS class, j.outcome AS outcome,
       toUInt32(j.t - j.t0) AS interval_s,
       if(j.published_at = 4294967295, NULL, toDateTime(j.published_at, 'UTC')) AS new_record_seen
FROM judged AS j
LEFT JOIN host_class AS h ON h.scan_id = j.scan_id AND h.host = j.host
ORDER BY switch_at, mx_host
