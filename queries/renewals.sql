-- renewals: leaf certificate renewals of DANE MX hosts between consecutive snapshots, by issuer
-- organisation and intermediate (issuer CN: R3, E1, ...), whether the key changed too and whether
-- DANE broke (valid before, invalid after). Paper: section 5.3 ("automatic renewals with a new key
-- break 3 x 1 records, and intermediate changes break 2 x x records pinned to the old
-- intermediate"); methodology.md section 6, "Let's Encrypt renewals over time".
-- Parameters: since DateTime, until DateTime (snapshot times).
WITH
picked AS (
    SELECT scan_id, started_at AS at FROM scans FINAL
    WHERE started_at >= {since:DateTime} AND started_at <= {until:DateTime}
),
leaves AS (
    SELECT v.mx_host AS host, p.at AS at, v.leaf_cert_sha256 AS cert, v.leaf_spki_sha256 AS spki,
           v.valid AS valid
    FROM dane_verdicts AS v FINAL
    INNER JOIN picked AS p ON p.scan_id = v.scan_id
    WHERE v.ip = '' AND v.leaf_cert_sha256 != '' AND NOT (v.reason IN ('no-tlsa', 'tlsa-lookup-failed', 'excluded') OR (v.reason = 'no-address' AND v.rfc_outcome = 'no-dane'))
),
steps AS (
    SELECT host, at, cert, spki, valid,
           lagInFrame(cert) OVER w AS prev_cert, lagInFrame(spki) OVER w AS prev_spki,
           lagInFrame(valid) OVER w AS prev_valid, row_number() OVER w AS n
    FROM leaves
    WINDOW w AS (PARTITION BY host ORDER BY at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT s.at AS at, c.issuer_org AS issuer_org, c.issuer_cn AS intermediate,
       o.issuer_cn AS previous_intermediate,
       count() AS renewals,
       countIf(s.spki != s.prev_spki) AS new_key,
       countIf(s.prev_valid = 1 AND s.valid = 0) AS broke_dane
FROM steps AS s
LEFT JOIN (SELECT sha256, issuer_org, issuer_cn FROM certificates FINAL) AS c ON c.sha256 = s.cert
LEFT JOIN (SELECT sha256, issuer_cn FROM certificates FINAL) AS o ON o.sha256 = s.prev_cert
WHERE s.n > 1 AND s.cert != s.prev_cert
GROUP BY at, issuer_org, intermediate, previous_intermediate
ORDER BY at, renewals DESC, issuer_org, intermediate
