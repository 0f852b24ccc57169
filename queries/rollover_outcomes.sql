-- rollover_outcomes: how key rollovers of DANE MX hosts went, counted by outcome, by TLSA usage
-- and by management class. Same rules as rollovers.sql (methodology.md section 5; paper section
-- 5.2: "87-92 % of MXs roll over wrongly at least once; 72-84 % ignore the TTL").
-- dimension: 'all' (every change), 'usage' (the usages of the TLSA RRset before the switch),
-- 'class' (SO / SSDO / SSDS / mixed / unknown of the domains the host serves).
-- Parameters: since DateTime, until DateTime (snapshot times), threshold UInt32 (50).
WITH
picked AS (
    SELECT scan_id, started_at AS at FROM scans FINAL
    WHERE started_at >= {since:DateTime} AND started_at <= {until:DateTime}
),
-- BEGIN rollovers (the same text in every file that judges rollovers; tests check it)
chains AS (  -- the chain each MX host presented in each snapshot (its lowest address that completed TLS)
    SELECT scan_id, mx_host AS host, argMin(chain, ip) AS presented
    FROM starttls_probes FINAL
    WHERE scan_id IN (SELECT scan_id FROM picked) AND status = 'ok' AND length(chain) > 0
      AND mx_host IN (SELECT mx_host FROM tlsa_records WHERE scan_id IN (SELECT scan_id FROM picked))
    GROUP BY scan_id, mx_host
),
chain_certs AS (
    SELECT scan_id, host, depth, cert
    FROM chains ARRAY JOIN presented AS cert, arrayEnumerate(presented) AS depth
),
fingerprints AS (  -- leaf, leaf key, issuer key, and every TLSA record text "u s m data" that
                   -- would match the chain: usage 3/1 at the leaf, 2/0 above it; selector/matching
                   -- type 0 1, 1 1 and 1 2 (the digests the certificates table keeps)
    SELECT cc.scan_id AS scan_id, cc.host AS host,
           anyIf(cc.cert, cc.depth = 1) AS leaf_cert,
           anyIf(k.spki_sha256, cc.depth = 1) AS leaf_key,
           anyIf(k.spki_sha256, cc.depth = 2) AS issuer_key,
           groupArrayArray(arrayFlatten(arrayMap(
               u -> [concat(u, ' 0 1 ', cc.cert), concat(u, ' 1 1 ', k.spki_sha256),
                     concat(u, ' 1 2 ', k.spki_sha512)],
               if(cc.depth = 1, ['3', '1'], ['2', '0'])))) AS keys
    FROM chain_certs AS cc
    LEFT JOIN (
        SELECT sha256, spki_sha256, spki_sha512 FROM certificates FINAL
        WHERE sha256 IN (SELECT cert FROM chain_certs)
    ) AS k ON k.sha256 = cc.cert
    GROUP BY cc.scan_id, cc.host
),
published AS (  -- the TLSA RRset of each host in each snapshot
    SELECT scan_id, mx_host AS host,
           groupArray(concat(toString(usage), ' ', toString(selector), ' ', toString(mtype), ' ', data)) AS tlsa,
           max(ttl) AS ttl,
           arrayStringConcat(arraySort(groupUniqArray(toString(usage))), '+') AS usages
    FROM tlsa_records FINAL
    WHERE scan_id IN (SELECT scan_id FROM picked)
    GROUP BY scan_id, mx_host
),
snapshots AS (
    SELECT f.host AS host, t.at AS at, f.scan_id AS scan_id, f.leaf_cert AS leaf_cert,
           f.leaf_key AS leaf_key, f.issuer_key AS issuer_key, f.keys AS keys,
           r.tlsa AS tlsa, r.ttl AS ttl, r.usages AS usages
    FROM fingerprints AS f
    INNER JOIN picked AS t ON t.scan_id = f.scan_id
    LEFT JOIN published AS r ON r.scan_id = f.scan_id AND r.host = f.host
),
changes AS (  -- a new leaf key, issuer key or leaf certificate between consecutive snapshots
    SELECT host, at, scan_id, prev_at, keys AS new_keys, prev_keys AS old_keys, usages, prev_usages,
           if(prev_ttl > 0, prev_ttl, ttl) AS tlsa_ttl,
           multiIf(leaf_key != prev_leaf_key, 'leaf-key', issuer_key != prev_issuer_key, 'issuer-key',
                   'leaf-cert') AS change
    FROM (
        SELECT *, row_number() OVER w AS n,
               lagInFrame(at) OVER w AS prev_at, lagInFrame(keys) OVER w AS prev_keys,
               lagInFrame(leaf_key) OVER w AS prev_leaf_key,
               lagInFrame(issuer_key) OVER w AS prev_issuer_key,
               lagInFrame(leaf_cert) OVER w AS prev_leaf_cert,
               lagInFrame(ttl) OVER w AS prev_ttl, lagInFrame(usages) OVER w AS prev_usages
        FROM snapshots
        WINDOW w AS (PARTITION BY host ORDER BY at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
    WHERE n > 1 AND (leaf_key != prev_leaf_key OR issuer_key != prev_issuer_key
                     OR leaf_cert != prev_leaf_cert)
      AND (length(tlsa) > 0 OR prev_ttl > 0)
),
histories AS (  -- per change: every snapshot of the host, whether its records matched the new / old chain
    SELECT c.host AS host, c.at AS at, any(c.scan_id) AS scan_id, any(c.prev_at) AS prev_at,
           any(c.change) AS change, any(c.tlsa_ttl) AS tlsa_ttl,
           any(if(c.prev_usages != '', c.prev_usages, c.usages)) AS usages,
           arraySort(groupArray((toUInt32(s.at), hasAny(s.tlsa, c.new_keys), hasAny(s.tlsa, c.old_keys)))) AS hist
    FROM changes AS c
    INNER JOIN snapshots AS s ON s.host = c.host
    GROUP BY c.host, c.at
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
mx_pairs AS (  -- (scan, domain, MX host); the domain itself when implicit, nothing for null MX
    SELECT scan_id, domain, arrayJoin(mx) AS host
    FROM domains FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0
),
addresses AS (
    SELECT scan_id, qname AS host, arrayJoin(records) AS ip
    FROM dns_rrsets FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND qtype IN ('A', 'AAAA') AND status = 'NOERROR'
),
shared_ip_hosts AS (  -- rule 1: an address shared by more than {threshold} MX host names
    SELECT DISTINCT a.scan_id, a.host
    FROM addresses AS a
    INNER JOIN (
        SELECT scan_id, ip FROM addresses
        WHERE (scan_id, host) IN (SELECT scan_id, host FROM mx_pairs)
        GROUP BY scan_id, ip HAVING uniqExact(host) > {threshold:UInt32}
    ) AS busy ON busy.scan_id = a.scan_id AND busy.ip = a.ip
),
mx_load AS (  -- rule 3: registered domain (Public Suffix List) of MX hosts and the domains it serves
    SELECT scan_id, cutToFirstSignificantSubdomain(host) AS reg, uniqExact(domain) AS served
    FROM mx_pairs GROUP BY scan_id, reg
),
ns_pairs AS (
    SELECT scan_id, domain, arrayJoin(ns) AS ns
    FROM domains FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans)
),
ns_load AS (
    SELECT scan_id, cutToFirstSignificantSubdomain(ns) AS reg, uniqExact(domain) AS served
    FROM ns_pairs GROUP BY scan_id, reg
),
tlsa_hosts AS (  -- MX hosts with a TLSA RRset (secure or not) and their verdict on the name
    SELECT scan_id, mx_host AS host, valid, reason
    FROM dane_verdicts FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND ip = ''
      AND reason NOT IN ('no-tlsa', 'tlsa-lookup-failed')
),
mx_sides AS (  -- methodology section 4, MX side: the first rule that applies
    SELECT p.scan_id AS scan_id, p.domain AS domain, p.host AS host, t.valid AS valid,
           t.reason AS reason,
           multiIf((p.scan_id, p.host) IN (SELECT scan_id, host FROM shared_ip_hosts), 'outsourced',
                   cutToFirstSignificantSubdomain(p.host) = cutToFirstSignificantSubdomain(p.domain), 'self',
                   l.served > {threshold:UInt32}, 'outsourced',
                   'unknown') AS side
    FROM mx_pairs AS p
    INNER JOIN tlsa_hosts AS t ON t.scan_id = p.scan_id AND t.host = p.host
    LEFT JOIN mx_load AS l ON l.scan_id = p.scan_id AND l.reg = cutToFirstSignificantSubdomain(p.host)
),
ns_sides AS (  -- NS side: rules 2 and 3 only
    SELECT n.scan_id AS scan_id, n.domain AS domain,
           groupUniqArray(multiIf(cutToFirstSignificantSubdomain(n.ns) = cutToFirstSignificantSubdomain(n.domain), 'self',
                                  l.served > {threshold:UInt32}, 'outsourced',
                                  'unknown')) AS sides
    FROM ns_pairs AS n
    LEFT JOIN ns_load AS l ON l.scan_id = n.scan_id AND l.reg = cutToFirstSignificantSubdomain(n.ns)
    WHERE (n.scan_id, n.domain) IN (SELECT scan_id, domain FROM mx_sides)
    GROUP BY n.scan_id, n.domain
),
classified AS (  -- one row per (scan, domain with a TLSA MX host)
    SELECT m.scan_id AS scan_id, m.domain AS domain,
           arraySort(groupUniqArray(m.side)) AS mx_kinds,
           arraySort(any(s.sides)) AS ns_kinds,
           multiIf(mx_kinds = ['outsourced'], 'SO',
                   has(mx_kinds, 'unknown') OR has(ns_kinds, 'unknown'), 'unknown',
                   length(mx_kinds) > 1 OR length(ns_kinds) > 1, 'mixed',
                   ns_kinds = ['outsourced'], 'SSDO',
                   'SSDS') AS class,
           min(m.valid) AS hosts_valid,
           argMinIf(m.reason, m.host, m.valid = 0) AS first_reason
    FROM mx_sides AS m
    LEFT JOIN ns_sides AS s ON s.scan_id = m.scan_id AND s.domain = m.domain
    GROUP BY m.scan_id, m.domain
)
-- END classification
, host_class AS (
    SELECT m.scan_id AS scan_id, m.host AS host,
           if(uniqExact(c.class) = 1, any(c.class), 'mixed') AS class
    FROM mx_sides AS m
    INNER JOIN classified AS c ON c.scan_id = m.scan_id AND c.domain = m.domain
    GROUP BY m.scan_id, m.host
),
events AS (
    SELECT j.outcome AS outcome, j.usages AS usages, if(h.class = '', 'unknown', h.class) AS class
    FROM judged AS j
    LEFT JOIN host_class AS h ON h.scan_id = j.scan_id AND h.host = j.host
)
SELECT dimension, value, outcome, changes,
       round(100 * changes / sum(changes) OVER (PARTITION BY dimension, value), 2) AS pct
FROM (
    SELECT 'all' AS dimension, '' AS value, outcome, count() AS changes FROM events GROUP BY outcome
    UNION ALL
    SELECT 'usage', usages, outcome, count() FROM events GROUP BY usages, outcome
    UNION ALL
    SELECT 'class', class, outcome, count() FROM events GROUP BY class, outcome
)
ORDER BY indexOf(['all', 'usage', 'class'], dimension), value, outcome
