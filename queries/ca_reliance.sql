-- ca_reliance: which certificates DANE MX hosts present: issued by a public CA (the paper used
-- Mozilla's CA list; here the scan's public root store) versus private CA or self-signed, by
-- issuer organisation and issuer name (the intermediate, e.g. R3 or E1 for Let's Encrypt).
-- Paper: section 5.3 ("more than 94 % of TLSA MX hosts use CA-issued certificates");
-- methodology.md section 6. Counts MX hosts with a TLSA RRset whose probe presented a leaf.
-- Parameters: scan_id String.
WITH leaves AS (
    SELECT v.mx_host AS mx_host, v.leaf_cert_sha256 AS sha256
    FROM dane_verdicts AS v FINAL
    WHERE v.scan_id = {scan_id:String} AND v.ip = '' AND v.leaf_cert_sha256 != ''
      AND NOT (v.reason IN ('no-tlsa', 'tlsa-lookup-failed', 'excluded') OR (v.reason = 'no-address' AND v.rfc_outcome = 'no-dane'))
)
SELECT multiIf(c.is_ca_issued = 1, 'ca-issued', c.subject = c.issuer, 'self-signed', 'private-ca') AS kind,
       c.issuer_org AS issuer_org, c.issuer_cn AS issuer_cn,
       count() AS mx_hosts,
       round(100 * mx_hosts / sum(mx_hosts) OVER (), 2) AS pct,
       round(100 * sum(mx_hosts) OVER (PARTITION BY kind) / sum(mx_hosts) OVER (), 2) AS pct_kind
FROM leaves AS l
INNER JOIN (SELECT sha256, is_ca_issued, subject, issuer, issuer_org, issuer_cn FROM certificates FINAL) AS c
    ON c.sha256 = l.sha256
GROUP BY kind, issuer_org, issuer_cn
ORDER BY kind, mx_hosts DESC, issuer_org, issuer_cn
