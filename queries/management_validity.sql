-- management_validity: validity of DANE domains per management class (SO / SSDO / SSDS, mixed,
-- unknown). Paper: section 4 and the validity-by-class figure ("99 % of SO domains are valid while
-- more than 30 % are invalid when the SMTP server is self-managed"; "96.6 % of TLSA domains use
-- popular MX providers"). Same rules and decisions as management_classes.sql (methodology.md
-- section 4; queries/DECISIONS.md: mixed MX sets are mixed whatever the NS side, self-managed MXs
-- with self + outsourced NS are SSDS, no list of known large providers).
-- Parameters: scan_id String, threshold UInt32 (50 in the methodology).
WITH
class_scans AS (SELECT {scan_id:String} AS scan_id),
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
      AND NOT (reason IN ('no-tlsa', 'tlsa-lookup-failed', 'excluded') OR (reason = 'no-address' AND rfc_outcome = 'no-dane'))
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
           -- queries/DECISIONS.md: the MX side decides SO, mixed and unknown-MX whatever the NS
           -- side; only self-managed MXs look at NS, where self + outsourced counts as self
           multiIf(mx_kinds = ['outsourced'], 'SO',
                   has(mx_kinds, 'unknown'), 'unknown',
                   length(mx_kinds) > 1, 'mixed',
                   has(ns_kinds, 'unknown'), 'unknown',
                   ns_kinds = ['outsourced'], 'SSDO',
                   'SSDS') AS class,
           toUInt8(empty(invalid_hosts)) AS hosts_valid,
           invalid_hosts[1] AS first_invalid  -- '' when every TLSA MX host validates
    FROM sides
    WHERE notEmpty(hosts)
)
-- END classification
SELECT c.class AS class,
       count() AS domains,
       countIf(c.hosts_valid = 1 AND c.mx_status != 'bogus') AS valid,
       domains - valid AS invalid,
       round(100 * invalid / domains, 2) AS pct_invalid,
       round(100 * domains / sum(domains) OVER (), 2) AS pct_of_dane_domains
FROM classified AS c
GROUP BY class
ORDER BY indexOf(['SO', 'SSDO', 'SSDS', 'mixed', 'unknown'], class)
