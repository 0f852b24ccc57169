-- registered_domain_disagreements: MX and NS host names whose registered domain differs between
-- the Public Suffix List (computed when the row was written: domains.mx_registered /
-- ns_registered, migration 0008), ClickHouse's built-in rule (cutToFirstSignificantSubdomain,
-- an approximation of the list, used by the SO/SSDO/SSDS classification) and the paper's rule
-- (the last two labels, i.e. the second-level label). methodology.md section 4 asks to report
-- where they disagree. Paper: section 4 (classification). Parameters: scan_id String.
WITH names AS (
    SELECT 'MX' AS role, pair.1 AS name, pair.2 AS public_suffix_list, domain
    FROM domains FINAL ARRAY JOIN arrayZip(mx, mx_registered) AS pair
    WHERE scan_id = {scan_id:String} AND null_mx = 0 AND length(mx) = length(mx_registered)
    UNION ALL
    SELECT 'NS' AS role, pair.1 AS name, pair.2 AS public_suffix_list, domain
    FROM domains FINAL ARRAY JOIN arrayZip(ns, ns_registered) AS pair
    WHERE scan_id = {scan_id:String} AND length(ns) = length(ns_registered)
)
SELECT role, name, public_suffix_list,
       cutToFirstSignificantSubdomain(name) AS clickhouse_rule,
       arrayStringConcat(arraySlice(splitByChar('.', name), -2), '.') AS second_level_rule,
       uniqExact(domain) AS domains
FROM names
WHERE public_suffix_list != second_level_rule OR clickhouse_rule != public_suffix_list
GROUP BY role, name, public_suffix_list, clickhouse_rule, second_level_rule
ORDER BY domains DESC, role, name
