-- dnssec_failure_reasons: why TLSA RRsets of MX hosts are not DNSSEC-secure, with the share that
-- is only missing the DS at the parent (paper section 4.2: missing DS is 99 % of the DNSSEC
-- failures of TLSA records; methodology.md section 2). One row per (status, reason), counting MX
-- hosts with a TLSA RRset; pct_of_failures is the share among the non-secure ones.
-- Parameters: scan_id String.
WITH rrsets AS (
    SELECT mx_host, any(dnssec_status) AS status, any(dnssec_reason) AS reason
    FROM tlsa_records FINAL WHERE scan_id = {scan_id:String}
    GROUP BY mx_host
)
SELECT status, reason, count() AS mx_hosts,
       round(100 * mx_hosts / sum(mx_hosts) OVER (), 2) AS pct_of_tlsa_hosts,
       if(status = 'secure', NULL,
          round(100 * mx_hosts / sum(if(status = 'secure', 0, mx_hosts)) OVER (), 2)) AS pct_of_failures
FROM rrsets
GROUP BY status, reason
ORDER BY status = 'secure', mx_hosts DESC, reason
