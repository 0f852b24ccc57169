-- tld_deployment: DANE deployment and failure per TLD (paper Table 1; methodology.md section 7:
-- ".com: 0.97 % of domains with TLSA; over 22 % of those MX hosts invalid, but only 0.51 % of the
-- domains"). Per TLD: domains, domains with an MX RRset, domains with at least one TLSA MX host
-- (implicit MX included), the MX hosts with TLSA that serve them, and the share of each that is
-- invalid (measurement view; a domain is invalid when any TLSA MX host is, or its MX RRset is
-- bogus). The row with tld = '' is the total (hosts counted once).
-- Parameters: scan_id String.
WITH
d AS (
    SELECT domain, tld, mx, null_mx, implicit_mx, mx_dnssec_status
    FROM domains FINAL WHERE scan_id = {scan_id:String}
),
v AS (
    SELECT mx_host, valid FROM dane_verdicts FINAL
    WHERE scan_id = {scan_id:String} AND ip = '' AND NOT (reason IN ('no-tlsa', 'tlsa-lookup-failed', 'excluded') OR (reason = 'no-address' AND rfc_outcome = 'no-dane'))
),
pairs AS (
    SELECT d.tld AS tld, d.domain AS domain, d.mx_dnssec_status AS mx_status, v.mx_host AS host,
           v.valid AS valid
    FROM d ARRAY JOIN mx AS h
    INNER JOIN v ON v.mx_host = h
    WHERE d.null_mx = 0
),
dom AS (
    SELECT tld, domain, toUInt8(min(valid) = 1 AND any(mx_status) != 'bogus') AS valid
    FROM pairs GROUP BY tld, domain
),
by_domain AS (
    SELECT tld, uniqExact(domain) AS with_tlsa, uniqExactIf(domain, valid = 0) AS invalid_domains
    FROM dom GROUP BY tld WITH ROLLUP
),
by_host AS (
    SELECT tld, uniqExact(host) AS tlsa_mx_hosts, uniqExactIf(host, valid = 0) AS invalid_mx_hosts
    FROM pairs GROUP BY tld WITH ROLLUP
),
totals AS (
    SELECT tld, uniqExact(domain) AS domains,
           uniqExactIf(domain, null_mx = 0 AND implicit_mx = 0 AND length(mx) > 0) AS with_mx
    FROM d GROUP BY tld WITH ROLLUP
)
SELECT if(t.tld = '', 'all', t.tld) AS tld, t.domains AS domains, t.with_mx AS with_mx, b.with_tlsa AS with_tlsa,
       round(100 * b.with_tlsa / t.domains, 2) AS pct_with_tlsa,
       b.invalid_domains AS invalid_domains,
       round(if(b.with_tlsa = 0, 0, 100 * b.invalid_domains / b.with_tlsa), 2) AS pct_domains_invalid,
       h.tlsa_mx_hosts AS tlsa_mx_hosts, h.invalid_mx_hosts AS invalid_mx_hosts,
       round(if(h.tlsa_mx_hosts = 0, 0, 100 * h.invalid_mx_hosts / h.tlsa_mx_hosts), 2) AS pct_mx_hosts_invalid
FROM totals AS t
LEFT JOIN by_domain AS b ON b.tld = t.tld
LEFT JOIN by_host AS h ON h.tld = t.tld
ORDER BY t.tld = '', t.domains DESC, t.tld
