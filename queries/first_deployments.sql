-- first_deployments: MX hosts whose TLSA RRset appears for the first time, per snapshot, and
-- whether DANE validated at that first sighting. Hosts that already had TLSA in the first stored
-- snapshot are not new deployments (their start is not observed). Paper: section 5 ("first
-- deployments"); methodology.md section 7.
-- Parameters: since DateTime, until DateTime (snapshot times of the first sighting).
WITH
snap AS (SELECT scan_id, started_at AS at FROM scans FINAL),
firsts AS (  -- hosts first seen with TLSA inside the window (and after the first snapshot)
    SELECT t.mx_host AS host, min(s.at) AS first_at, argMin(t.scan_id, s.at) AS scan_id
    -- min and argMin need neither FINAL nor DISTINCT: extra versions and records repeat a pair
    FROM tlsa_records AS t
    INNER JOIN snap AS s ON s.scan_id = t.scan_id
    GROUP BY t.mx_host
    HAVING first_at > (SELECT min(at) FROM snap)
       AND first_at >= {since:DateTime} AND first_at <= {until:DateTime}
)
SELECT f.first_at AS at, count() AS new_dane_mx_hosts, countIf(v.valid = 1) AS valid_at_first_sight
FROM firsts AS f
LEFT JOIN (  -- verdicts of the new hosts only (not a hash table of every verdict)
    SELECT scan_id, mx_host, valid FROM dane_verdicts FINAL
    WHERE ip = '' AND mx_host IN (SELECT host FROM firsts)
) AS v ON v.scan_id = f.scan_id AND v.mx_host = f.host
GROUP BY at
ORDER BY at
