-- mismatch_reasons: why MX hosts with a DNSSEC-secure TLSA RRset still fail DANE (paper Figure 4;
-- methodology.md section 3), including matches-old-certificate (the records match no current
-- certificate but an earlier one of the same MX host: the paper's "70 % of mismatches").
-- matches_earlier_leaf recomputes that from the stored history: among the hosts with this reason,
-- how many have a TLSA record (3 1 1, 3 0 1 or 3 1 2) equal to a leaf the host presented in an
-- earlier snapshot (the leaves stored at each scan's close: leaf_snapshots, migration 0015, and
-- the raw rows of scans not stored), so the verdict's reason can be checked against the data.
-- Parameters: scan_id String.
WITH
bad AS (
    SELECT mx_host, reason FROM dane_verdicts FINAL
    WHERE scan_id = {scan_id:String} AND ip = '' AND tlsa_dnssec_status = 'secure' AND valid = 0
      AND NOT (reason IN ('no-tlsa', 'tlsa-lookup-failed', 'excluded') OR (reason = 'no-address' AND rfc_outcome = 'no-dane'))
),
records AS (  -- each TLSA record as (usage, selector, mtype, cityHash64 of its data)
    SELECT mx_host, groupArray((usage, selector, mtype, cityHash64(data))) AS tlsa
    FROM tlsa_records FINAL
    WHERE scan_id = {scan_id:String} AND mx_host IN (SELECT mx_host FROM bad)
    GROUP BY mx_host
),
stored AS (  -- the earlier scans whose leaves are stored (leaf_snapshots, migration 0015)
    SELECT scan_id, version
    FROM stored_scans(since = toDateTime(0, 'UTC'),
                      until = (SELECT max(started_at) FROM scans FINAL WHERE scan_id = {scan_id:String}) - 1)
),
earlier AS (  -- the leaves of these hosts in earlier snapshots, as the records 3 1 1, 3 0 1 and
              -- 3 1 2 that would designate them: stored, and raw for scans not stored
    SELECT host AS mx_host,
           groupUniqArrayArray([(toUInt8(3), toUInt8(1), toUInt8(1), spki), (toUInt8(3), toUInt8(0), toUInt8(1), cert),
                                (toUInt8(3), toUInt8(1), toUInt8(2), spki512)]) AS keys
    FROM (
        SELECT host, cert, spki, spki512 FROM leaf_snapshots
        PREWHERE host IN (SELECT mx_host FROM bad)
        WHERE (scan_id, version) IN (SELECT scan_id, version FROM stored)
        UNION ALL
        SELECT host, cert, spki, spki512
        FROM leaf_snapshots_of(scans = (
            SELECT groupArray(scan_id) FROM scans FINAL
            WHERE started_at < (SELECT max(started_at) FROM scans FINAL WHERE scan_id = {scan_id:String})
              AND scan_id NOT IN (SELECT scan_id FROM stored)))
        WHERE host IN (SELECT mx_host FROM bad)
    )
    GROUP BY host
)
SELECT b.reason AS reason, count() AS mx_hosts,
       round(100 * mx_hosts / sum(mx_hosts) OVER (), 2) AS pct,
       countIf(hasAny(r.tlsa, e.keys)) AS matches_earlier_leaf
FROM bad AS b
LEFT JOIN records AS r ON r.mx_host = b.mx_host
LEFT JOIN earlier AS e ON e.mx_host = b.mx_host
GROUP BY reason
ORDER BY mx_hosts DESC, reason
