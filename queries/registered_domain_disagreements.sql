-- registered_domain_disagreements: MX and NS host names whose registered domain by the public
-- suffix rule (cutToFirstSignificantSubdomain, used by the SO/SSDO/SSDS classification) differs
-- from the paper's rule (the last two labels, i.e. the second-level label). methodology.md
-- section 4 asks to report where the two disagree. Paper: section 4 (classification).
-- Parameters: scan_id String.
WITH names AS (
    SELECT 'MX' AS role, arrayJoin(mx) AS name, domain
    FROM domains FINAL WHERE scan_id = {scan_id:String} AND null_mx = 0
    UNION ALL
    SELECT 'NS' AS role, arrayJoin(ns) AS name, domain
    FROM domains FINAL WHERE scan_id = {scan_id:String}
)
SELECT role, name,
       cutToFirstSignificantSubdomain(name) AS public_suffix_rule,
       arrayStringConcat(arraySlice(splitByChar('.', name), -2), '.') AS second_level_rule,
       uniqExact(domain) AS domains
FROM names
WHERE public_suffix_rule != second_level_rule
GROUP BY role, name
ORDER BY domains DESC, role, name
