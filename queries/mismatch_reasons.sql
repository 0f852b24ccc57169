-- mismatch_reasons: why MX hosts with a DNSSEC-secure TLSA RRset still fail DANE (paper Figure 4;
-- methodology.md section 3), including matches-old-certificate (the records match no current
-- certificate but an earlier one of the same MX host: the paper's "70 % of mismatches").
-- matches_earlier_leaf recomputes that from the stored history: among the hosts with this reason,
-- how many have a TLSA record (3 1 1, 3 0 1 or 3 1 2) equal to a leaf the host presented in an
-- earlier snapshot, so the verdict's reason can be checked against the data.
-- Parameters: scan_id String.
WITH
bad AS (
    SELECT mx_host, reason FROM dane_verdicts FINAL
    WHERE scan_id = {scan_id:String} AND ip = '' AND tlsa_dnssec_status = 'secure' AND valid = 0
      AND NOT (reason IN ('no-tlsa', 'tlsa-lookup-failed', 'excluded') OR (reason = 'no-address' AND rfc_outcome = 'no-dane'))
),
records AS (
    SELECT mx_host,
           groupArray(concat(toString(usage), ' ', toString(selector), ' ', toString(mtype), ' ', data)) AS tlsa
    FROM tlsa_records FINAL
    WHERE scan_id = {scan_id:String} AND mx_host IN (SELECT mx_host FROM bad)
    GROUP BY mx_host
),
earlier AS (
    SELECT v.mx_host AS mx_host,
           groupUniqArrayArray([concat('3 1 1 ', v.leaf_spki_sha256), concat('3 0 1 ', v.leaf_cert_sha256),
                                concat('3 1 2 ', c.spki_sha512)]) AS keys
    FROM (
        SELECT mx_host, leaf_spki_sha256, leaf_cert_sha256 FROM dane_verdicts FINAL
        WHERE ip = '' AND leaf_cert_sha256 != '' AND mx_host IN (SELECT mx_host FROM bad)
          AND scan_id IN (
              SELECT scan_id FROM scans FINAL
              WHERE started_at < (SELECT max(started_at) FROM scans FINAL WHERE scan_id = {scan_id:String}))
    ) AS v
    LEFT JOIN (SELECT sha256, spki_sha512 FROM certificates FINAL) AS c ON c.sha256 = v.leaf_cert_sha256
    GROUP BY v.mx_host
)
SELECT b.reason AS reason, count() AS mx_hosts,
       round(100 * mx_hosts / sum(mx_hosts) OVER (), 2) AS pct,
       countIf(hasAny(r.tlsa, e.keys)) AS matches_earlier_leaf
FROM bad AS b
LEFT JOIN records AS r ON r.mx_host = b.mx_host
LEFT JOIN earlier AS e ON e.mx_host = b.mx_host
GROUP BY reason
ORDER BY mx_hosts DESC, reason
