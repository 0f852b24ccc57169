-- management_validity: validity of DANE domains per management class (SO / SSDO / SSDS, mixed,
-- unknown). Paper: section 4 and the validity-by-class figure ("99 % of SO domains are valid while
-- more than 30 % are invalid when the SMTP server is self-managed"; "96.6 % of TLSA domains use
-- popular MX providers"). Same rules and decisions as management_classes.sql (methodology.md
-- section 4; queries/DECISIONS.md: mixed MX sets are mixed whatever the NS side, self-managed MXs
-- with self + outsourced NS are SSDS, no list of known large providers).
-- Reads the view class_rows (queries/migrations/0017_class_snapshots.sql): the classes stored at the
-- scan's close, or found by domain_classes (0013), where the rules live.
-- Parameters: scan_id String, threshold UInt32 (50 in the methodology).
SELECT c.class AS class,
       count() AS domains,
       countIf(c.valid = 1) AS valid,
       domains - valid AS invalid,
       round(100 * invalid / domains, 2) AS pct_invalid,
       round(100 * domains / sum(domains) OVER (), 2) AS pct_of_dane_domains
FROM class_rows(scans = [{scan_id:String}], threshold = {threshold:UInt32}) AS c
GROUP BY class
ORDER BY indexOf(['SO', 'SSDO', 'SSDS', 'mixed', 'unknown'], class)
