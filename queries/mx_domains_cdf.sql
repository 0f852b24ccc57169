-- mx_domains_cdf: the CDF of the number of domains each DANE MX host serves, for valid and invalid
-- MX hosts (paper Figure 2; methodology.md section 7: "90 % of valid domains sit on MX hosts with
-- more than 10,000 domains; invalid single-domain MX hosts are 45 % of invalid domains").
-- One row per (validity, domains served): how many MX hosts serve that many domains, the
-- (domain, MX host) pairs they account for, and the cumulative share of pairs and of hosts up to
-- and including that size. A domain with two DANE MX hosts counts once for each.
-- Parameters: scan_id String.
WITH
served AS (
    SELECT h AS host, uniqExact(domain) AS n
    FROM domains FINAL ARRAY JOIN mx AS h
    WHERE scan_id = {scan_id:String} AND null_mx = 0
    GROUP BY host
),
hosts AS (
    SELECT s.host AS host, s.n AS n, if(v.valid = 1, 'valid', 'invalid') AS validity
    FROM served AS s
    INNER JOIN (
        SELECT mx_host, valid FROM dane_verdicts FINAL
        WHERE scan_id = {scan_id:String} AND ip = '' AND NOT (reason IN ('no-tlsa', 'tlsa-lookup-failed', 'excluded') OR (reason = 'no-address' AND rfc_outcome = 'no-dane'))
    ) AS v ON v.mx_host = s.host
)
SELECT validity, n AS domains_served, count() AS mx_hosts, sum(n) AS domains,
       round(100 * sum(domains) OVER w / sum(domains) OVER p, 3) AS cum_pct_domains,
       round(100 * sum(mx_hosts) OVER w / sum(mx_hosts) OVER p, 3) AS cum_pct_mx_hosts
FROM hosts
GROUP BY validity, n
WINDOW p AS (PARTITION BY validity),
       w AS (PARTITION BY validity ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY validity DESC, domains_served
