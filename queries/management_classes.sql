-- management_classes: who manages the mail and DNS of each domain with DANE (SO / SSDO / SSDS).
-- Paper: section 4 ("Who manages what"), the per-domain input of the validity-by-class figure.
-- Rules: methodology.md section 4. MX side per MX host with TLSA, first rule that applies:
--   1. an address of the host is shared by more than {threshold} MX host names -> outsourced;
--   2. its registered domain equals the domain's -> self;
--   3. its registered domain is the MX domain of more than {threshold} domains -> outsourced;
--   4. otherwise unknown.  NS side: rules 2 and 3.
-- Class, in this order (decided in queries/DECISIONS.md):
--   SO       every TLSA MX outsourced (the NS side does not matter);
--   unknown  an MX unknown;
--   mixed    outsourced and self-managed MXs: reported as such whatever the NS side, unknown
--            included (methodology: "mixed MX sets are reported as such");
--   unknown  MXs self-managed, an NS unknown;
--   SSDO     MXs self-managed, every NS outsourced;
--   SSDS     MXs self-managed, NS self-managed, or self-managed and outsourced together: the
--            domain serves its zone from a name server of its own, so the TLSA records are edited
--            by the entity that runs the SMTP server (the paper's SSDS question); an outsourced
--            NS beside it serves a copy (a secondary).
-- "Or is a known large provider" (rule 3): deliberately not implemented, no provider list. Rule 1
-- and rule 3 find large providers from the loads in the scan itself; a list would age, would
-- differ from what the paper used, and would make a class depend on its maintenance. A scan of
-- a small domain list (loads below the threshold) therefore yields 'unknown', not SO.
-- Registered domain: the Public Suffix List (workers/psl.py, stored with each domain row); see
-- registered_domain_disagreements.sql for names where it differs from the second-level label.
-- Valid: every TLSA MX host validates (measurement view) and the MX RRset is not bogus.
-- Reads the view domain_classes (queries/migrations/0013_analysis_views.sql), where the rules live.
-- Parameters: scan_id String, threshold UInt32 (50 in the methodology).
SELECT c.domain AS domain, c.class AS class, c.mx_kinds AS mx_kinds, c.ns_kinds AS ns_kinds,
       toUInt8(c.hosts_valid = 1 AND c.mx_status != 'bogus') AS valid,
       if(c.mx_status = 'bogus', 'dnssec-bogus', r.reason) AS reason
FROM domain_classes(scans = [{scan_id:String}], threshold = {threshold:UInt32}, hosts = []) AS c
LEFT JOIN (  -- the reason of the first invalid TLSA MX host (by name)
    SELECT mx_host, reason FROM dane_verdicts FINAL
    WHERE scan_id = {scan_id:String} AND ip = '' AND valid = 0
) AS r ON r.mx_host = c.first_invalid
ORDER BY class, domain
