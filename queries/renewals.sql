-- renewals: leaf certificate renewals of DANE MX hosts between consecutive snapshots, by issuer
-- organisation and intermediate (issuer CN: R3, E1, ...), whether the key changed too and whether
-- DANE broke (valid before, invalid after). Paper: section 5.3 ("automatic renewals with a new key
-- break 3 x 1 records, and intermediate changes break 2 x x records pinned to the old
-- intermediate"); methodology.md section 6, "Let's Encrypt renewals over time".
-- Reads the leaves stored at each scan's close (leaf_snapshots, migration 0015) of the hosts with
-- two leaves or more in the window (host_leaves), and the raw rows of scans not stored through
-- the same view (leaf_snapshots_of); stored_scans says which scans are stored. Only snapshots
-- whose verdict judged a TLSA RRset count (judged).
-- Parameters: since DateTime, until DateTime (snapshot times).
WITH
(SELECT groupUniqArray(host) FROM (  -- the hosts that may have renewed, once (a scalar)
    SELECT host FROM host_leaves
    WHERE first_at <= {until:DateTime} AND last_at >= {since:DateTime}
    GROUP BY host HAVING uniqExact(cert) > 1
    UNION ALL
    SELECT DISTINCT mx_host FROM dane_verdicts
    WHERE scan_id IN (SELECT scan_id FROM picked WHERE scan_id NOT IN (SELECT scan_id FROM stored)) AND ip = ''
)) AS candidates,
picked AS (
    SELECT scan_id, started_at AS at FROM scans FINAL
    WHERE started_at >= {since:DateTime} AND started_at <= {until:DateTime}
),
stored AS (SELECT scan_id, version FROM stored_scans(since = {since:DateTime}, until = {until:DateTime})),
leaves AS (
    SELECT host, at, cert, spki, valid, issuer_org, issuer_cn FROM leaf_snapshots
    PREWHERE host IN (SELECT arrayJoin(candidates))
    WHERE (scan_id, version) IN (SELECT scan_id, version FROM stored) AND judged = 1
    UNION ALL
    SELECT host, at, cert, spki, valid, issuer_org, issuer_cn
    FROM leaf_snapshots_of(scans = (SELECT groupArray(scan_id) FROM picked
                                    WHERE scan_id NOT IN (SELECT scan_id FROM stored)))
    WHERE judged = 1
),
steps AS (
    SELECT host, at, cert, spki, valid, issuer_org, issuer_cn,
           lagInFrame(cert) OVER w AS prev_cert, lagInFrame(spki) OVER w AS prev_spki,
           lagInFrame(valid) OVER w AS prev_valid, lagInFrame(issuer_cn) OVER w AS prev_issuer_cn,
           row_number() OVER w AS n
    FROM leaves
    WINDOW w AS (PARTITION BY host ORDER BY at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT at, issuer_org, issuer_cn AS intermediate, prev_issuer_cn AS previous_intermediate,
       count() AS renewals,
       countIf(spki != prev_spki) AS new_key,
       countIf(prev_valid = 1 AND valid = 0) AS broke_dane
FROM steps
WHERE n > 1 AND cert != prev_cert
GROUP BY at, issuer_org, intermediate, previous_intermediate
ORDER BY at, renewals DESC, issuer_org, intermediate
