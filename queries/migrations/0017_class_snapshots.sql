-- Issue 17, fourth step: each stored scan's management classes kept at its close, so that
-- management_classes and management_validity read one row per domain with DANE instead of
-- classifying every domain of the scan at every call.
-- requires: ClickHouse 23.1
-- * class_snapshots_of(scans, threshold): per (scan, domain with a TLSA MX host) the class of
--   domain_classes, with what both files take from it: valid (every TLSA MX host validates and
--   the MX RRset is not bogus) and reason ('dnssec-bogus' for a bogus MX RRset, else the verdict
--   reason of the first invalid TLSA MX host by name; '' when valid).
-- * class_snapshots: those rows per stored scan, at derived_scans.threshold, with the version of
--   the scan's derivation; class_sets: per scan, the derivation whose class rows are stored.
--   Filled by workers/store/snapshots.py with the snapshot rows, before derived_scans records
--   them; here for the scans already stored at the methodology's threshold (50).
-- * class_rows(scans, threshold): the stored rows of the scans stored at this threshold whose
--   class rows belong to their current derivation, class_snapshots_of for the others (a scan
--   running or not stored, stored by an older writer, or asked at another threshold): the same
--   answer either way.

CREATE VIEW IF NOT EXISTS class_snapshots_of {{on_cluster}} AS
SELECT c.scan_id AS scan_id, c.domain AS domain, c.class AS class, c.mx_kinds AS mx_kinds,
       c.ns_kinds AS ns_kinds, toUInt8(c.hosts_valid = 1 AND c.mx_status != 'bogus') AS valid,
       if(c.mx_status = 'bogus', 'dnssec-bogus', r.reason) AS reason
FROM domain_classes(scans = {scans:Array(String)}, threshold = {threshold:UInt32}, hosts = []) AS c
LEFT JOIN (  -- the verdicts of the invalid TLSA MX hosts, for the reason of the first one
    SELECT scan_id, mx_host, reason FROM dane_verdicts FINAL
    WHERE scan_id IN (SELECT arrayJoin({scans:Array(String)})) AND ip = '' AND valid = 0
) AS r ON r.scan_id = c.scan_id AND r.mx_host = c.first_invalid;

-- Read by scan, in the order of management_classes' answer.
CREATE TABLE IF NOT EXISTS class_snapshots {{on_cluster}} (
    scan_id  String,
    domain   String,
    class    String,
    mx_kinds Array(String),
    ns_kinds Array(String),
    valid    UInt8,
    reason   String,
    version  UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (scan_id, class, domain);

CREATE TABLE IF NOT EXISTS class_sets {{on_cluster}} (
    scan_id String,
    version UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY scan_id;

CREATE VIEW IF NOT EXISTS class_rows {{on_cluster}} AS
WITH
kept AS (  -- the scans asked for whose class rows are stored at this threshold and current
    SELECT scan_id, version
    FROM stored_scans(since = toDateTime(0, 'UTC'), until = toDateTime(4294967295, 'UTC'))
    WHERE has({scans:Array(String)}, scan_id) AND threshold = {threshold:UInt32}
      AND (scan_id, version) IN (SELECT scan_id, version FROM class_sets FINAL)
)
SELECT scan_id, domain, class, mx_kinds, ns_kinds, valid, reason FROM class_snapshots
WHERE scan_id IN (SELECT scan_id FROM kept) AND (scan_id, version) IN (SELECT scan_id, version FROM kept)
UNION ALL
SELECT scan_id, domain, class, mx_kinds, ns_kinds, valid, reason
FROM class_snapshots_of(scans = (SELECT groupArray(s) FROM (SELECT arrayJoin({scans:Array(String)}) AS s)
                                 WHERE s NOT IN (SELECT scan_id FROM kept)),
                        threshold = {threshold:UInt32});

-- The scans stored before this migration at the methodology's threshold: their class rows, with
-- their derivation's version.
INSERT INTO class_snapshots
SELECT c.scan_id, c.domain, c.class, c.mx_kinds, c.ns_kinds, c.valid, c.reason, d.version
FROM class_snapshots_of(scans = (SELECT groupArray(scan_id) FROM derived_scans FINAL WHERE threshold = 50),
                        threshold = 50) AS c
INNER JOIN (SELECT scan_id, version FROM derived_scans FINAL) AS d ON d.scan_id = c.scan_id;

INSERT INTO class_sets
SELECT scan_id, version FROM derived_scans FINAL WHERE threshold = 50;
