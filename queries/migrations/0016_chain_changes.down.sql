-- Back to 0015: the change tables and their views go, and rollover_switches is again 0015's (its
-- text as 0015 created it).
DROP VIEW IF EXISTS rollover_switches {{on_cluster}};
DROP VIEW IF EXISTS current_change_sets {{on_cluster}};
DROP TABLE IF EXISTS chain_change_sets {{on_cluster}};
DROP TABLE IF EXISTS chain_changes {{on_cluster}};
DROP VIEW IF EXISTS chain_changes_of {{on_cluster}};
DROP VIEW IF EXISTS stored_sequence {{on_cluster}};

CREATE VIEW IF NOT EXISTS rollover_switches {{on_cluster}} AS
WITH
picked AS (
    SELECT scan_id, started_at AS at FROM scans FINAL
    WHERE started_at >= {since:DateTime} AND started_at <= {until:DateTime}
),
stored AS (SELECT scan_id, threshold, version FROM stored_scans(since = {since:DateTime}, until = {until:DateTime})),
-- The stored rows are read without FINAL: a row is current when its (scan, version) is the one
-- stored_scans names; rows of an older derivation of the scan are left out that way. The views
-- over raw rows get only the picked scans that have none (usually no scan at all).
-- Certificates, keys and TLSA records are compared by cityHash64 of their text; a false match
-- needs a 64-bit collision. Decisions (queries/DECISIONS.md): every (host, address) is judged on
-- its own and the host's outcome at a switch is the worst of its addresses'; the TLSA timeline is
-- the host's, whatever the probes did; a change is judged only when a record designating the old
-- chain does not designate the new one (a renewal that keeps the key under 3 1 1 is no rollover);
-- T is the largest TTL resolvers may still hold at the switch; only a secure TLSA RRset is judged.
candidate_hosts AS (  -- hosts with an address that may have presented two chains or more in
                      -- the window: two of its chains seen in an insert whose snapshots meet the
                      -- window (host_chains; a superset, the changes are found below), and every
                      -- host probed in a scan not stored
    SELECT host FROM host_chains
    WHERE first_at <= {until:DateTime} AND last_at >= {since:DateTime}
    GROUP BY host, ip
    HAVING uniqExact(leaf_cert, leaf_key, issuer_key) > 1
    UNION ALL
    SELECT DISTINCT mx_host FROM starttls_probes
    WHERE scan_id IN (SELECT scan_id FROM picked WHERE scan_id NOT IN (SELECT scan_id FROM stored))
),
-- The candidate hosts, as one value: ClickHouse evaluates a CTE at every reference, including an
-- IN (SELECT ...) set, but a scalar sub-query once per query (0014 found them twice).
(SELECT groupUniqArray(host) FROM candidate_hosts) AS candidates,
tlsa_snaps AS (  -- per (scan, host) whose TLSA lookup answered (tlsa_snapshots_of): the
                 -- candidates' stored rows and every row of a scan not stored
    SELECT scan_id, at, host, tlsa, ttl, usages, secure, has_records
    FROM tlsa_snapshots
    PREWHERE host IN (SELECT arrayJoin(candidates))
    WHERE (scan_id, version) IN (SELECT scan_id, version FROM stored)
    UNION ALL
    SELECT scan_id, at, host, tlsa, ttl, usages, secure, has_records
    FROM tlsa_snapshots_of(scans = (SELECT groupArray(scan_id) FROM picked
                                    WHERE scan_id NOT IN (SELECT scan_id FROM stored)))
),
probe_snaps AS (  -- per (scan, candidate host, address) that completed TLS: the chain presented
                  -- (probe_snapshots_of)
    SELECT scan_id, at, host, ip, leaf_cert, leaf_key, issuer_key, keys,
           -- the class stored with the chain, when stored at this threshold (else host_class)
           if((scan_id, {threshold:UInt32}) IN (SELECT scan_id, threshold FROM stored), class, '') AS class
    FROM probe_snapshots
    PREWHERE host IN (SELECT arrayJoin(candidates))
    WHERE (scan_id, version) IN (SELECT scan_id, version FROM stored)
    UNION ALL
    SELECT scan_id, at, host, ip, leaf_cert, leaf_key, issuer_key, keys, ''
    FROM probe_snapshots_of(scans = (SELECT groupArray(scan_id) FROM picked
                                     WHERE scan_id NOT IN (SELECT scan_id FROM stored)))
),
tlsa_hist AS (  -- per host with TLSA records in the window, its TLSA timeline in time order:
                -- (at, records, TTL, usages, secure); only these hosts' chains are judged
    SELECT host, arraySort(x -> x.1, groupArray((toUInt32(at), tlsa, ttl, usages, secure))) AS s
    FROM tlsa_snaps
    GROUP BY host
    HAVING max(has_records) = 1
),
addr_changes AS (  -- per (host, address), every new leaf key, issuer key or leaf certificate
                   -- between consecutive snapshots in which the address completed TLS
    SELECT host, ip, p[i].1 AS t, p[i].2 AS scan_id, p[i - 1].1 AS t0,
           multiIf(p[i].4 != p[i - 1].4, 'leaf-key', p[i].5 != p[i - 1].5, 'issuer-key', 'leaf-cert') AS change,
           p[i].6 AS new_keys, p[i - 1].6 AS old_keys, p[i].7 AS class
    FROM (
        SELECT host, ip,
               arraySort(x -> x.1, groupArray((toUInt32(at), scan_id, leaf_cert, leaf_key,
                                               issuer_key, keys, class))) AS p
        FROM probe_snaps
        GROUP BY host, ip
    )
    ARRAY JOIN arrayFilter(i -> i > 1 AND (p[i].3 != p[i - 1].3 OR p[i].4 != p[i - 1].4 OR p[i].5 != p[i - 1].5),
                           arrayEnumerate(p)) AS i
),
addr_judged AS (  -- methodology.md section 5, per (host, address, change)
    SELECT host, ip, t, t0, scan_id, change, usages, tlsa_ttl, published_at, class,
           multiIf(NOT secure, 'not-secure',
                   2 * tlsa_ttl < t - t0, 'short-ttl',
                   NOT new_at_switch, if(new_later, 'updated-later', 'not-updated'),
                   old_seen AND (NOT old_before OR NOT old_kept), 'early-retract',
                   before = 0 OR NOT old_seen, 'before-window',
                   NOT new_before, 'same-time',
                   last_miss = 0 AND published_at + 2 * tlsa_ttl > t, 'before-window',
                   published_at + 2 * tlsa_ttl > t, 'too-late',
                   'correct') AS outcome
    FROM (
        SELECT host, ip, t, t0, scan_id, change, class,
               -- per TLSA snapshot: (at, matches the new chain, matches the old chain, TTL, records)
               arrayMap(x -> (x.1, hasAny(x.2, new_keys), hasAny(x.2, old_keys), x.3, length(x.2)), s) AS hist,
               arrayLastIndex(x -> x.1 < t, s) AS before,            -- the last TLSA snapshot before t
               arrayLastIndex(x -> x.1 < t AND notEmpty(x.2), s) AS ref,  -- the last with records
               if(ref > 0, ref, arrayFirstIndex(x -> x.1 = t, s)) AS base,
               s[base].4 AS usages, s[base].5 = 1 AS secure,
               -- the TTL resolvers may hold at t: the last one before t, and any larger one
               -- published so recently that 2 TTL has not passed by t
               greatest(s[base].3, arrayMax(arrayMap(x -> if(x.1 < t AND x.1 + 2 * x.3 >= t, x.3, 0), s))) AS tlsa_ttl,
               arrayExists(x -> x.1 = t AND x.2, hist) AS new_at_switch,
               arrayExists(x -> x.1 > t AND x.2, hist) AS new_later,
               hist[before].2 AS new_before,
               hist[before].3 AS old_before,
               arrayExists(x -> x.1 < t AND x.3, hist) AS old_seen,
               arrayMax(arrayMap(x -> if(x.1 <= t AND NOT x.2, x.1, 0), hist)) AS last_miss,
               arrayMin(arrayMap(x -> if(x.1 > last_miss AND x.1 <= t, x.1, 4294967295), hist)) AS published_at,
               arrayAll(x -> x.3 OR x.1 < published_at OR x.1 >= t, hist) AS old_kept,
               -- the records that designated the old chain just before t
               arrayFilter(r -> has(old_keys, r), s[base].2) AS old_records
        FROM addr_changes AS c
        INNER JOIN tlsa_hist AS h ON h.host = c.host
        WHERE base > 0 AND (length(s[base].2) > 0)
          AND (empty(old_records) OR NOT arrayAll(r -> has(new_keys, r), old_records))
    )
),
judged AS (  -- per (host, switch time): the worst outcome of its addresses (wrong before
             -- correct, any judgement before none), with each address's outcome
    SELECT a_host AS host, toDateTime(a_t, 'UTC') AS at, any(a_scan) AS scan_id, a_t AS t, min(a_t0) AS t0,
           argMin(a_change, rank) AS change, argMin(a_ttl, rank) AS tlsa_ttl,
           argMin(a_usages, rank) AS usages, argMin(a_outcome, rank) AS outcome,
           argMin(a_published, rank) AS published_at, max(a_class) AS class,
           arraySort(groupArray(concat(a_ip, ' ', a_outcome))) AS addresses
    FROM (SELECT host AS a_host, ip AS a_ip, t AS a_t, t0 AS a_t0, scan_id AS a_scan, change AS a_change,
                 tlsa_ttl AS a_ttl, usages AS a_usages, outcome AS a_outcome, published_at AS a_published,
                 class AS a_class,
                 indexOf(['not-updated', 'updated-later', 'early-retract', 'same-time', 'too-late',
                          'correct', 'before-window', 'short-ttl', 'not-secure'], outcome) AS rank
          FROM addr_judged)
    GROUP BY a_host, a_t
),
host_class AS (  -- the class of the domains each host serves at the switch, for the snapshots
                 -- without one stored at this threshold (host_classes_of; usually none), kept for
                 -- the candidates' hosts only: every host of judged is one. The hosts are not
                 -- passed to the view: a parameter from a sub-query is inlined only while its
                 -- value is small (with 150,000 hosts ClickHouse said "Substitution `hosts` is not
                 -- set"), so every host of those snapshots is classified
    SELECT scan_id, host, class
    FROM host_classes_of(scans = (SELECT groupArray(scan_id) FROM picked
                                  WHERE (scan_id, {threshold:UInt32}) NOT IN (SELECT scan_id, threshold FROM stored)),
                         threshold = {threshold:UInt32}, hosts = [])
    WHERE host IN (SELECT arrayJoin(candidates))
)
SELECT j.host AS host, j.at AS at, j.scan_id AS scan_id, j.t AS t, j.t0 AS t0, j.change AS change,
       j.tlsa_ttl AS tlsa_ttl, j.usages AS usages, j.outcome AS outcome,
       j.published_at AS published_at, j.addresses AS addresses,
       multiIf(j.class != '', j.class, h.class != '', h.class, 'unknown') AS class
FROM judged AS j
LEFT JOIN host_class AS h ON h.scan_id = j.scan_id AND h.host = j.host;
