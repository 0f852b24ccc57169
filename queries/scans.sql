-- scans: the stored snapshots (scan id, kind, nominal time, status and why: an 'incomplete' scan
-- names its damaged inputs) with their row counts: what every other query can be asked about.
-- Not a paper figure.
-- Parameters: none.
SELECT s.scan_id AS scan_id, s.kind AS kind, s.started_at AS started_at, s.status AS status,
       s.status_reason AS status_reason, d.domains AS domains, v.mx_hosts AS mx_hosts
FROM scans AS s FINAL
LEFT JOIN (SELECT scan_id, count() AS domains FROM domains FINAL GROUP BY scan_id) AS d
    ON d.scan_id = s.scan_id
LEFT JOIN (SELECT scan_id, countIf(ip = '') AS mx_hosts FROM dane_verdicts FINAL GROUP BY scan_id) AS v
    ON v.scan_id = s.scan_id
ORDER BY started_at, scan_id
