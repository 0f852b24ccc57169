-- Issue 17, third step: the chain changes of each snapshot stored at its scan's close, so that
-- rollover_switches reads those few rows instead of every candidate's chain at every snapshot.
-- requires: ClickHouse 23.1
-- Measured with benchmarks/bench_queries.py at 10 M verdict rows (25 snapshots, 15,395 changes
-- of 5.5 M chains): finding the changes took about half of rollover_switches' time; reading them
-- instead, rollovers took 0.6-0.9 s where it took 1.0-1.3 s.
-- * stored_sequence(until): every scan with current stored rows (stored_scans) started up to
--   `until`, in start order, with how many such scans came before it and which was the last.
-- * chain_changes: per (scan, MX host, address) whose chain (leaf, leaf key, issuer key) differs
--   from the one the address presented at its previous stored snapshot: both times, the kind of
--   change, the designations of both chains and the class, as rollover_switches' addr_changes
--   finds them. chain_change_sets: per scan, that its changes were found, against which
--   sequence (its derivation, the number of stored scans before it, the last one and that one's
--   derivation), and the version its rows carry. Filled by workers/store/snapshots.py after the
--   snapshot rows, for the scans stored and every stored scan started after them (a scan stored
--   late changes its successors' previous snapshots); here for the scans already stored.
-- * rollover_switches reads the stored changes when every scan of the window has a change set
--   that matches the sequence as it now stands, and finds the changes from the chains as 0015
--   did otherwise (a scan running or not stored, a set stored by an older writer, or two closes
--   that stored at once): the answer is the same either way.

CREATE VIEW IF NOT EXISTS stored_sequence {{on_cluster}} AS
SELECT a[k].1 AS scan_id, a[k].2 AS at, a[k].3 AS version, toUInt32(k - 1) AS prior,
       if(k > 1, a[k - 1].1, '') AS prev, if(k > 1, a[k - 1].3, toUInt64(0)) AS prev_version
FROM (
    SELECT arraySort(x -> (x.2, x.1), groupArray((d.scan_id, s.started_at, d.version))) AS a
    FROM stored_scans(since = toDateTime(0, 'UTC'), until = {until:DateTime}) AS d
    INNER JOIN (SELECT scan_id, started_at FROM scans FINAL) AS s ON s.scan_id = d.scan_id
)
ARRAY JOIN arrayEnumerate(a) AS k;

-- chain_changes_of(scans Array(String), lookback UInt32): the changes of those of the scans that
-- have current stored rows, each against the previous stored snapshot of its (host, address);
-- the rows of chain_changes without their version. A close asks for its own scan: the previous
-- snapshot of an address is then nearly always among the `lookback` stored scans before it, and
-- only those are read, with the whole history of the few addresses absent from all of them (so
-- the cost of a close does not grow with the history); `lookback` 0 reads the whole history.
CREATE VIEW IF NOT EXISTS chain_changes_of {{on_cluster}} AS
WITH
seq AS (SELECT scan_id, at, version FROM stored_sequence(until = toDateTime(4294967295, 'UTC'))),
-- the scans asked for that are stored, the starts of the first and the last of them, and the
-- start of the `lookback`-th stored scan before the first (1970 when there are fewer)
(SELECT (groupArrayIf(scan_id, has({scans:Array(String)}, scan_id)),
         minIf(at, has({scans:Array(String)}, scan_id)), maxIf(at, has({scans:Array(String)}, scan_id)),
         arraySort(groupArray(at))) FROM seq) AS of_seq,
of_seq.1 AS of_scans, of_seq.2 AS first_at, of_seq.3 AS upto,
if({lookback:UInt32} = 0, toDateTime(0, 'UTC'),
   arrayElement(arrayFilter(x -> x < first_at, of_seq.4), -toInt64({lookback:UInt32}))) AS bound,
cur AS (  -- the chains the scans' addresses presented
    SELECT host, ip, at, scan_id, leaf_cert, leaf_key, issuer_key, keys, class FROM probe_snapshots
    WHERE (scan_id, version) IN (SELECT scan_id, version FROM seq WHERE has(of_scans, scan_id))
),
orphans AS (  -- their addresses without a stored snapshot between the bound and the first scan
    SELECT DISTINCT host, ip FROM probe_snapshots
    WHERE (scan_id, version) IN (SELECT scan_id, version FROM seq WHERE has(of_scans, scan_id))
      AND (host, ip) NOT IN (SELECT host, ip FROM probe_snapshots
                             WHERE (scan_id, version) IN (SELECT scan_id, version FROM seq)
                               AND at >= bound AND at < first_at)
),
before AS (  -- the stored snapshots that may precede them: from the bound to the last of the
             -- scans, and the orphans' before the bound (read through the sort key)
    SELECT host, ip, at, leaf_cert, leaf_key, issuer_key, keys FROM probe_snapshots
    WHERE (scan_id, version) IN (SELECT scan_id, version FROM seq) AND at >= bound AND at < upto
    UNION ALL
    SELECT host, ip, at, leaf_cert, leaf_key, issuer_key, keys FROM probe_snapshots
    PREWHERE (host, ip) IN (SELECT host, ip FROM orphans)
    WHERE (scan_id, version) IN (SELECT scan_id, version FROM seq) AND at < bound
)
-- each snapshot of the scans whose chain differs from the one of the address's latest stored
-- snapshot before it
SELECT c.host AS host, c.ip AS ip, c.scan_id AS scan_id, c.at AS at, b.at AS t0,
       multiIf(c.leaf_key != b.leaf_key, 'leaf-key', c.issuer_key != b.issuer_key, 'issuer-key',
               'leaf-cert') AS change,
       c.keys AS new_keys, b.keys AS old_keys, c.class AS class
FROM cur AS c
ASOF INNER JOIN before AS b ON b.host = c.host AND b.ip = c.ip AND c.at > b.at
WHERE c.leaf_cert != b.leaf_cert OR c.leaf_key != b.leaf_key OR c.issuer_key != b.issuer_key;

-- Read by scan: the window's scans, then their version.
CREATE TABLE IF NOT EXISTS chain_changes {{on_cluster}} (
    scan_id   String,
    host      String,
    ip        String,
    at        DateTime('UTC'),
    t0        DateTime('UTC'),
    change    String,
    new_keys  Array(UInt64),
    old_keys  Array(UInt64),
    class     String,
    version   UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (scan_id, host, ip);

CREATE TABLE IF NOT EXISTS chain_change_sets {{on_cluster}} (
    scan_id         String,
    derived_version UInt64,
    prior           UInt32,
    prev            String,
    prev_version    UInt64,
    version         UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY scan_id;

-- current_change_sets(until DateTime): the stored scans started up to `until` whose change set
-- was found against the sequence as it now stands (the same derivation of the scan, as many
-- stored scans before it, the same last one in the same derivation), with the version of its
-- rows. rollover_switches reads the stored changes of these; a close finds those of the others
-- again (workers/store/snapshots.py).
CREATE VIEW IF NOT EXISTS current_change_sets {{on_cluster}} AS
SELECT c.scan_id AS scan_id, c.version AS version, q.at AS at
FROM (SELECT scan_id, derived_version, prior, prev, prev_version, version FROM chain_change_sets FINAL) AS c
INNER JOIN (SELECT scan_id, at, version, prior, prev, prev_version
            FROM stored_sequence(until = {until:DateTime})) AS q
    ON q.scan_id = c.scan_id AND q.version = c.derived_version AND q.prior = c.prior
       AND q.prev = c.prev AND q.prev_version = c.prev_version;

-- rollover_switches(since DateTime, until DateTime, threshold UInt32): as 0015's (same rules,
-- same answers), with the changes read from chain_changes when every scan of the window has a
-- current change set (the CTEs fast and fast_changes; the others as 0015 wrote them, each read
-- of the chains and of the scans not stored skipped on that path).
DROP VIEW IF EXISTS rollover_switches {{on_cluster}};

CREATE VIEW IF NOT EXISTS rollover_switches {{on_cluster}} AS
WITH
picked AS (
    SELECT scan_id, started_at AS at FROM scans FINAL
    WHERE started_at >= {since:DateTime} AND started_at <= {until:DateTime}
),
stored AS (SELECT scan_id, threshold, version FROM stored_scans(since = {since:DateTime}, until = {until:DateTime})),
fast AS (  -- the window's scans whose changes are stored against the sequence as it now stands
    SELECT scan_id, version FROM current_change_sets(until = {until:DateTime}) WHERE at >= {since:DateTime}
),
-- every scan of the window has them: the changes are read, not found
(SELECT groupArray((scan_id, version)) FROM fast) AS fast_set,
((SELECT count() FROM picked) = length(fast_set)) AS all_fast,
-- The stored scans as sets, each analysed once: ClickHouse analyses a CTE at every reference
-- (stored_scans' FINAL and join each time; 0.1 s of this view's 0.7 s at 10 M verdict rows).
(SELECT (groupArray((scan_id, version)), groupArray((scan_id, threshold)), groupArray(scan_id))
 FROM stored) AS stored_sets,
stored_sets.1 AS stored_versions, stored_sets.2 AS stored_thresholds, stored_sets.3 AS stored_ids,
fast_changes AS (  -- the stored changes whose previous snapshot lies in the window
    SELECT host, ip, toUInt32(at) AS t, scan_id, toUInt32(t0) AS t0, change, new_keys, old_keys,
           if((scan_id, {threshold:UInt32}) IN (SELECT arrayJoin(stored_thresholds)), class, '') AS class
    FROM chain_changes
    WHERE all_fast AND (scan_id, version) IN (SELECT arrayJoin(fast_set)) AND t0 >= {since:DateTime}
),
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
                      -- host probed in a scan not stored; or the hosts of the stored changes
    SELECT host FROM host_chains
    WHERE NOT all_fast AND first_at <= {until:DateTime} AND last_at >= {since:DateTime}
    GROUP BY host, ip
    HAVING uniqExact(leaf_cert, leaf_key, issuer_key) > 1
    UNION ALL
    SELECT DISTINCT mx_host FROM starttls_probes
    WHERE scan_id IN (SELECT scan_id FROM picked WHERE scan_id NOT IN (SELECT arrayJoin(stored_ids)))
    UNION ALL
    SELECT host FROM chain_changes  -- fast_changes' rows (it is read once, below)
    WHERE all_fast AND (scan_id, version) IN (SELECT arrayJoin(fast_set)) AND t0 >= {since:DateTime}
),
-- The candidate hosts, as one value: ClickHouse evaluates a CTE at every reference, including an
-- IN (SELECT ...) set, but a scalar sub-query once per query (0014 found them twice).
(SELECT groupUniqArray(host) FROM candidate_hosts) AS candidates,
tlsa_snaps AS (  -- per (scan, host) whose TLSA lookup answered (tlsa_snapshots_of): the
                 -- candidates' stored rows and every row of a scan not stored
    SELECT scan_id, at, host, tlsa, ttl, usages, secure, has_records
    FROM tlsa_snapshots
    PREWHERE host IN (SELECT arrayJoin(candidates))
    WHERE (scan_id, version) IN (SELECT arrayJoin(stored_versions))
    UNION ALL
    SELECT scan_id, at, host, tlsa, ttl, usages, secure, has_records
    FROM tlsa_snapshots_of(scans = (SELECT groupArray(scan_id) FROM picked
                                    WHERE scan_id NOT IN (SELECT arrayJoin(stored_ids))))
),
probe_snaps AS (  -- per (scan, candidate host, address) that completed TLS: the chain presented
                  -- (probe_snapshots_of)
    SELECT scan_id, at, host, ip, leaf_cert, leaf_key, issuer_key, keys,
           -- the class stored with the chain, when stored at this threshold (else host_class)
           if((scan_id, {threshold:UInt32}) IN (SELECT arrayJoin(stored_thresholds)), class, '') AS class
    FROM probe_snapshots
    PREWHERE host IN (SELECT arrayJoin(candidates))
    WHERE (scan_id, version) IN (SELECT arrayJoin(stored_versions))
    UNION ALL
    SELECT scan_id, at, host, ip, leaf_cert, leaf_key, issuer_key, keys, ''
    FROM probe_snapshots_of(scans = (SELECT groupArray(scan_id) FROM picked
                                     WHERE scan_id NOT IN (SELECT arrayJoin(stored_ids))))
),
tlsa_hist AS (  -- per host with TLSA records in the window, its TLSA timeline in time order:
                -- (at, records, TTL, usages, secure); only these hosts' chains are judged
    SELECT host, arraySort(x -> x.1, groupArray((toUInt32(at), tlsa, ttl, usages, secure))) AS s
    FROM tlsa_snaps
    GROUP BY host
    HAVING max(has_records) = 1
),
addr_changes AS (  -- per (host, address), every new leaf key, issuer key or leaf certificate
                   -- between consecutive snapshots in which the address completed TLS (as
                   -- chain_changes_of finds them for the stored rows)
    SELECT host, ip, p[i].1 AS t, p[i].2 AS scan_id, p[i - 1].1 AS t0,
           multiIf(p[i].4 != p[i - 1].4, 'leaf-key', p[i].5 != p[i - 1].5, 'issuer-key', 'leaf-cert') AS change,
           p[i].6 AS new_keys, p[i - 1].6 AS old_keys, p[i].7 AS class
    FROM (
        SELECT host, ip,
               arraySort(x -> x.1, groupArray((toUInt32(at), scan_id, leaf_cert, leaf_key,
                                               issuer_key, keys, class))) AS p
        FROM probe_snaps
        WHERE NOT all_fast
        GROUP BY host, ip
    )
    ARRAY JOIN arrayFilter(i -> i > 1 AND (p[i].3 != p[i - 1].3 OR p[i].4 != p[i - 1].4 OR p[i].5 != p[i - 1].5),
                           arrayEnumerate(p)) AS i
    UNION ALL
    SELECT host, ip, t, scan_id, t0, change, new_keys, old_keys, class FROM fast_changes
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
                                  WHERE (scan_id, {threshold:UInt32}) NOT IN (SELECT arrayJoin(stored_thresholds))),
                         threshold = {threshold:UInt32}, hosts = [])
    WHERE host IN (SELECT arrayJoin(candidates))
)
SELECT j.host AS host, j.at AS at, j.scan_id AS scan_id, j.t AS t, j.t0 AS t0, j.change AS change,
       j.tlsa_ttl AS tlsa_ttl, j.usages AS usages, j.outcome AS outcome,
       j.published_at AS published_at, j.addresses AS addresses,
       multiIf(j.class != '', j.class, h.class != '', h.class, 'unknown') AS class
FROM judged AS j
LEFT JOIN host_class AS h ON h.scan_id = j.scan_id AND h.host = j.host;

-- The scans stored before this migration: their changes, against the sequence as it stands, with
-- one version for the rows and the sets (a later close stores newer ones).
INSERT INTO chain_changes
SELECT scan_id, host, ip, at, t0, change, new_keys, old_keys, class, 1
FROM chain_changes_of(scans = (SELECT groupArray(scan_id) FROM derived_scans FINAL), lookback = 0);

INSERT INTO chain_change_sets
SELECT scan_id, version, prior, prev, prev_version, 1
FROM stored_sequence(until = toDateTime(4294967295, 'UTC'));
