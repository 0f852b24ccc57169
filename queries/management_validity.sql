-- management_validity: validity of DANE domains per management class (SO / SSDO / SSDS, mixed,
-- unknown). Paper: section 4 and the validity-by-class figure ("99 % of SO domains are valid while
-- more than 30 % are invalid when the SMTP server is self-managed"; "96.6 % of TLSA domains use
-- popular MX providers"). Same rules as management_classes.sql (methodology.md section 4).
-- Parameters: scan_id String, threshold UInt32 (50 in the methodology).
WITH
class_scans AS (SELECT {scan_id:String} AS scan_id),
-- BEGIN classification (the same text in every file that classifies; tests check it)
-- ClickHouse evaluates a CTE at every reference: the heavy ones below are read once, the loads
-- only as IN sets of the registered domains above {threshold} (built once per query), and the
-- only hash join is MX pairs x TLSA hosts; one GROUP BY (scan, domain) gives the class.
mx_busy AS (  -- rule 3: registered domains (Public Suffix List) that are the MX domain of more than {threshold} domains
    SELECT scan_id, cutToFirstSignificantSubdomain(host) AS reg
    FROM (SELECT scan_id, domain, arrayJoin(mx) AS host FROM domains FINAL
          WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0)
    GROUP BY scan_id, reg
    HAVING uniqExact(domain) > {threshold:UInt32}
),
ns_busy AS (  -- the same for NS hosts
    SELECT scan_id, cutToFirstSignificantSubdomain(ns) AS reg
    FROM (SELECT scan_id, domain, arrayJoin(ns) AS ns FROM domains FINAL
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
mx_pairs AS (  -- (scan, domain, MX host); the domain itself when implicit, nothing for null MX;
               -- with the NS side of the domain (rules 2 and 3 only)
    SELECT scan_id, domain, mx_dnssec_status,
           arraySort(arrayDistinct(arrayMap(
               n -> multiIf(cutToFirstSignificantSubdomain(n) = cutToFirstSignificantSubdomain(domain), 'self',
                            (scan_id, cutToFirstSignificantSubdomain(n)) IN (SELECT scan_id, reg FROM ns_busy), 'outsourced',
                            'unknown'), ns))) AS ns_kinds,
           arrayJoin(mx) AS host
    FROM domains FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND null_mx = 0
),
tlsa_hosts AS (  -- MX hosts with a TLSA RRset (secure or not) and their verdict on the name
    SELECT scan_id, mx_host AS host, valid, reason
    FROM dane_verdicts FINAL
    WHERE scan_id IN (SELECT scan_id FROM class_scans) AND ip = ''
      AND reason NOT IN ('no-tlsa', 'tlsa-lookup-failed')
),
mx_sides AS (  -- methodology section 4, MX side: the first rule that applies
    SELECT p.scan_id AS scan_id, p.domain AS domain, p.ns_kinds AS ns_kinds,
           p.mx_dnssec_status AS mx_status, p.host AS host, t.valid AS valid, t.reason AS reason,
           multiIf((p.scan_id, p.host) IN (SELECT scan_id, host FROM shared_ip_hosts), 'outsourced',
                   cutToFirstSignificantSubdomain(p.host) = cutToFirstSignificantSubdomain(p.domain), 'self',
                   (p.scan_id, cutToFirstSignificantSubdomain(p.host)) IN (SELECT scan_id, reg FROM mx_busy), 'outsourced',
                   'unknown') AS side
    FROM mx_pairs AS p
    INNER JOIN tlsa_hosts AS t ON t.scan_id = p.scan_id AND t.host = p.host
),
classified AS (  -- one row per (scan, domain with a TLSA MX host)
    SELECT scan_id, domain, any(mx_status) AS mx_status, groupArray(host) AS hosts,
           arrayFilter((k, seen) -> seen, ['outsourced', 'self', 'unknown'],  -- the sides seen, sorted
                       [max(side = 'outsourced'), max(side = 'self'), max(side = 'unknown')]) AS mx_kinds,
           any(ns_kinds) AS ns_kinds,
           multiIf(mx_kinds = ['outsourced'], 'SO',
                   has(mx_kinds, 'unknown') OR has(ns_kinds, 'unknown'), 'unknown',
                   length(mx_kinds) > 1 OR length(ns_kinds) > 1, 'mixed',
                   ns_kinds = ['outsourced'], 'SSDO',
                   'SSDS') AS class,
           min(valid) AS hosts_valid,
           argMinIf(reason, host, valid = 0) AS first_reason
    FROM mx_sides
    GROUP BY scan_id, domain
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
