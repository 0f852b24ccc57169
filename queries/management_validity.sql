-- management_validity: validity of DANE domains per management class (SO / SSDO / SSDS, mixed,
-- unknown). Paper: section 4 and the validity-by-class figure ("99 % of SO domains are valid while
-- more than 30 % are invalid when the SMTP server is self-managed"; "96.6 % of TLSA domains use
-- popular MX providers"). Same rules as management_classes.sql (methodology.md section 4).
-- Parameters: scan_id String, threshold UInt32 (50 in the methodology).
WITH
class_scans AS (SELECT {scan_id:String} AS scan_id),
-- BEGIN classification (the same text in every file that classifies; tests check it)
-- Each CTE below is read by exactly one other (ClickHouse evaluates a CTE at every reference).
mx_pairs AS (  -- (scan, domain, MX host); the domain itself when implicit, nothing for null MX
    SELECT scan_id, domain, ns, mx_dnssec_status, arrayJoin(mx) AS host
    FROM domains FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0
),
shared_ip_hosts AS (  -- rule 1: MX hosts with an address shared by more than {threshold} MX host names
    SELECT DISTINCT scan_id, arrayJoin(hosts) AS host
    FROM (
        SELECT scan_id, ip, groupUniqArrayIf(host, is_mx) AS hosts
        FROM (
            SELECT scan_id, qname AS host, arrayJoin(records) AS ip,
                   (scan_id, qname) IN (SELECT scan_id, arrayJoin(mx) FROM domains FINAL
                                        WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0) AS is_mx
            FROM dns_rrsets FINAL
            WHERE scan_id IN (SELECT scan_id FROM class_scans) AND qtype IN ('A', 'AAAA') AND status = 'NOERROR'
        )
        GROUP BY scan_id, ip
        HAVING length(hosts) > {threshold:UInt32}
    )
),
mx_load AS (  -- rule 3: registered domain (Public Suffix List) of MX hosts and the domains it serves
    SELECT scan_id, cutToFirstSignificantSubdomain(host) AS reg, uniqExact(domain) AS served
    FROM (SELECT scan_id, domain, arrayJoin(mx) AS host FROM domains FINAL
          WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0)
    GROUP BY scan_id, reg
),
ns_load AS (
    SELECT scan_id, cutToFirstSignificantSubdomain(ns) AS reg, uniqExact(domain) AS served
    FROM (SELECT scan_id, domain, arrayJoin(ns) AS ns FROM domains FINAL
          WHERE scan_id IN (SELECT scan_id FROM class_scans))
    GROUP BY scan_id, reg
),
tlsa_hosts AS (  -- MX hosts with a TLSA RRset (secure or not) and their verdict on the name
    SELECT scan_id, mx_host AS host, valid, reason
    FROM dane_verdicts FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND ip = ''
      AND reason NOT IN ('no-tlsa', 'tlsa-lookup-failed')
),
mx_sides AS (  -- methodology section 4, MX side: the first rule that applies
    SELECT p.scan_id AS scan_id, p.domain AS domain, p.ns AS ns, p.mx_dnssec_status AS mx_status,
           p.host AS host, t.valid AS valid, t.reason AS reason,
           multiIf((p.scan_id, p.host) IN (SELECT scan_id, host FROM shared_ip_hosts), 'outsourced',
                   cutToFirstSignificantSubdomain(p.host) = cutToFirstSignificantSubdomain(p.domain), 'self',
                   l.served > {threshold:UInt32}, 'outsourced',
                   'unknown') AS side
    FROM mx_pairs AS p
    INNER JOIN tlsa_hosts AS t ON t.scan_id = p.scan_id AND t.host = p.host
    LEFT JOIN mx_load AS l ON l.scan_id = p.scan_id AND l.reg = cutToFirstSignificantSubdomain(p.host)
),
mx_domains AS (  -- one row per (scan, domain with a TLSA MX host): its MX side
    SELECT scan_id, domain, any(ns) AS ns, any(mx_status) AS mx_status,
           arraySort(groupUniqArray(side)) AS mx_kinds, groupUniqArray(host) AS hosts,
           min(valid) AS hosts_valid, argMinIf(reason, host, valid = 0) AS first_reason
    FROM mx_sides
    GROUP BY scan_id, domain
),
classified AS (  -- NS side (rules 2 and 3 only), then the class of each domain
    SELECT m.scan_id AS scan_id, m.domain AS domain, any(m.mx_status) AS mx_status,
           any(m.hosts) AS hosts, any(m.mx_kinds) AS mx_kinds,
           arraySort(groupUniqArrayIf(multiIf(cutToFirstSignificantSubdomain(n) = cutToFirstSignificantSubdomain(m.domain), 'self',
                                              l.served > {threshold:UInt32}, 'outsourced',
                                              'unknown'), i > 0)) AS ns_kinds,
           multiIf(mx_kinds = ['outsourced'], 'SO',
                   has(mx_kinds, 'unknown') OR has(ns_kinds, 'unknown'), 'unknown',
                   length(mx_kinds) > 1 OR length(ns_kinds) > 1, 'mixed',
                   ns_kinds = ['outsourced'], 'SSDO',
                   'SSDS') AS class,
           any(m.hosts_valid) AS hosts_valid, any(m.first_reason) AS first_reason
    FROM mx_domains AS m
    LEFT ARRAY JOIN m.ns AS n, arrayEnumerate(m.ns) AS i
    LEFT JOIN ns_load AS l ON l.scan_id = m.scan_id AND l.reg = cutToFirstSignificantSubdomain(n)
    GROUP BY m.scan_id, m.domain
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
