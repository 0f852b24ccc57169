-- Back to 0013: the stored snapshot tables and their views go, and rollover_switches is again
-- 0013's, which derives every snapshot from the raw rows (its text as 0013 created it).
DROP VIEW IF EXISTS rollover_switches {{on_cluster}};
DROP TABLE IF EXISTS derived_scans {{on_cluster}};
DROP VIEW IF EXISTS host_chains_mv {{on_cluster}};
DROP TABLE IF EXISTS host_chains {{on_cluster}};
DROP TABLE IF EXISTS tlsa_snapshots {{on_cluster}};
DROP TABLE IF EXISTS probe_snapshots {{on_cluster}};
DROP VIEW IF EXISTS host_classes_of {{on_cluster}};
DROP VIEW IF EXISTS tlsa_snapshots_of {{on_cluster}};
DROP VIEW IF EXISTS probe_snapshots_of {{on_cluster}};

CREATE VIEW IF NOT EXISTS rollover_switches {{on_cluster}} AS
WITH
picked AS (
    SELECT scan_id, started_at AS at FROM scans FINAL
    WHERE started_at >= {since:DateTime} AND started_at <= {until:DateTime}
),
-- ClickHouse evaluates a CTE at every reference: each one below is read once, and the history of
-- an address is one array, not a join of its snapshots with its changes. Certificates, keys and
-- TLSA records are compared by cityHash64 of their text; a false match needs a 64-bit collision.
-- Decisions (queries/DECISIONS.md): every (host, address) is judged on its own and the host's
-- outcome at a switch is the worst of its addresses'; the TLSA timeline is the host's, whatever
-- the probes did; a change is judged only when a record designating the old chain does not
-- designate the new one (a renewal that keeps the key under 3 1 1 is no rollover); T is the
-- largest TTL resolvers may still hold at the switch; only a secure TLSA RRset is judged.
probes AS (  -- per (scan, MX host with TLSA, address) that completed TLS: the chain presented
    SELECT scan_id, mx_host AS host, ip, chain
    FROM starttls_probes FINAL
    WHERE scan_id IN (SELECT scan_id FROM picked) AND status = 'ok' AND length(chain) > 0
      AND mx_host IN (SELECT mx_host FROM tlsa_records WHERE scan_id IN (SELECT scan_id FROM picked))
),
probe_snaps AS (  -- per (scan, host, address): leaf, leaf key, issuer key, and every TLSA record
                  -- "u s m data" that designates a certificate of the chain (usage 3/1 at the
                  -- leaf, 2/0 above it). Matching data as the verdict computes it
                  -- (workers/dane/certs.py CertDigests.association): selector 0 the certificate,
                  -- 1 its SubjectPublicKeyInfo; mtype 1 SHA-256, 2 SHA-512, 0 the full DER, which
                  -- is compared through its SHA-256 (records are normalised the same way below)
    SELECT cc.scan_id AS scan_id, cc.host AS host, cc.ip AS ip,
           cityHash64(anyIf(cc.cert, cc.depth = 1)) AS leaf_cert,
           cityHash64(anyIf(k.spki_sha256, cc.depth = 1)) AS leaf_key,
           cityHash64(anyIf(k.spki_sha256, cc.depth = 2)) AS issuer_key,
           groupArrayArray(arrayMap(x -> cityHash64(x), arrayFlatten(arrayMap(
               u -> [concat(u, ' 0 1 ', cc.cert), concat(u, ' 0 2 ', k.sha512),
                     concat(u, ' 1 1 ', k.spki_sha256), concat(u, ' 1 2 ', k.spki_sha512)],
               if(cc.depth = 1, ['3', '1'], ['2', '0']))))) AS keys
    FROM (SELECT scan_id, host, ip, depth, cert
          FROM probes ARRAY JOIN chain AS cert, arrayEnumerate(chain) AS depth) AS cc
    LEFT JOIN (
        SELECT sha256, spki_sha256, spki_sha512, lower(hex(SHA512(der))) AS sha512 FROM certificates FINAL
        WHERE sha256 IN (SELECT arrayJoin(chain) FROM starttls_probes WHERE scan_id IN (SELECT scan_id FROM picked))
    ) AS k ON k.sha256 = cc.cert
    GROUP BY scan_id, host, ip
),
tlsa_snaps AS (  -- per (scan, host) whose TLSA lookup answered: its records (normalised as above;
                 -- none when the verdict says no-tlsa), TTL, usages and whether the RRset is secure
    SELECT scan_id, host, groupArrayIf(record, record != 0) AS tlsa, max(ttl) AS ttl,
           arrayStringConcat(arraySort(groupUniqArrayIf(usage, record != 0)), '+') AS usages,
           toUInt8(countIf(record != 0 AND status != 'secure') = 0) AS secure
    FROM (
        SELECT scan_id, mx_host AS host, ttl, toString(usage) AS usage, dnssec_status AS status,
               cityHash64(concat(toString(usage), ' ', toString(selector), ' ',
                                 if(mtype = 0, '1', toString(mtype)), ' ',
                                 if(mtype = 0, lower(hex(SHA256(unhex(data)))), data))) AS record
        FROM tlsa_records FINAL
        WHERE scan_id IN (SELECT scan_id FROM picked)
        UNION ALL
        SELECT scan_id, mx_host, toUInt32(0), '', 'secure', toUInt64(0)
        FROM dane_verdicts FINAL
        WHERE scan_id IN (SELECT scan_id FROM picked) AND ip = '' AND reason = 'no-tlsa'
    )
    GROUP BY scan_id, host
),
tlsa_hist AS (  -- per host, its TLSA timeline in time order: (at, records, TTL, usages, secure)
    SELECT f.host AS host,
           arraySort(x -> x.1, groupArray((toUInt32(t.at), f.tlsa, f.ttl, f.usages, f.secure))) AS s
    FROM tlsa_snaps AS f
    INNER JOIN picked AS t ON t.scan_id = f.scan_id
    GROUP BY f.host
),
addr_changes AS (  -- per (host, address), every new leaf key, issuer key or leaf certificate
                   -- between consecutive snapshots in which the address completed TLS
    SELECT host, ip, p[i].1 AS t, p[i].2 AS scan_id, p[i - 1].1 AS t0,
           multiIf(p[i].4 != p[i - 1].4, 'leaf-key', p[i].5 != p[i - 1].5, 'issuer-key', 'leaf-cert') AS change,
           p[i].6 AS new_keys, p[i - 1].6 AS old_keys
    FROM (
        SELECT f.host AS host, f.ip AS ip,
               arraySort(x -> x.1, groupArray((toUInt32(t.at), f.scan_id, f.leaf_cert, f.leaf_key,
                                               f.issuer_key, f.keys))) AS p
        FROM probe_snaps AS f
        INNER JOIN picked AS t ON t.scan_id = f.scan_id
        GROUP BY f.host, f.ip
    )
    ARRAY JOIN arrayFilter(i -> i > 1 AND (p[i].3 != p[i - 1].3 OR p[i].4 != p[i - 1].4 OR p[i].5 != p[i - 1].5),
                           arrayEnumerate(p)) AS i
),
addr_judged AS (  -- methodology.md section 5, per (host, address, change)
    SELECT host, ip, t, t0, scan_id, change, usages, tlsa_ttl, published_at,
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
        SELECT host, ip, t, t0, scan_id, change,
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
           argMin(a_published, rank) AS published_at,
           arraySort(groupArray(concat(a_ip, ' ', a_outcome))) AS addresses
    FROM (SELECT host AS a_host, ip AS a_ip, t AS a_t, t0 AS a_t0, scan_id AS a_scan, change AS a_change,
                 tlsa_ttl AS a_ttl, usages AS a_usages, outcome AS a_outcome, published_at AS a_published,
                 indexOf(['not-updated', 'updated-later', 'early-retract', 'same-time', 'too-late',
                          'correct', 'before-window', 'short-ttl', 'not-secure'], outcome) AS rank
          FROM addr_judged)
    GROUP BY a_host, a_t
),
changed AS (  -- hosts that presented two leaf certificates or more in the window: every host
              -- of judged is one (a new key is a new certificate), so only their domains are
              -- classified (rollovers 4.3 -> 3.5 s on 1 M verdict rows)
    SELECT mx_host FROM starttls_probes FINAL
    WHERE scan_id IN (SELECT scan_id FROM picked) AND status = 'ok' AND length(chain) > 0
    GROUP BY mx_host
    HAVING uniqExact(chain[1]) > 1
),
host_class AS (  -- the class of the domains each host serves at the switch; 'mixed' when they differ
    SELECT scan_id, host, if(uniqExact(class) = 1, any(class), 'mixed') AS class
    FROM domain_classes(scans = (SELECT groupArray(scan_id) FROM picked), threshold = {threshold:UInt32},
                        hosts = (SELECT groupArray(mx_host) FROM changed))
    ARRAY JOIN hosts AS host
    GROUP BY scan_id, host
)
SELECT j.host AS host, j.at AS at, j.scan_id AS scan_id, j.t AS t, j.t0 AS t0, j.change AS change,
       j.tlsa_ttl AS tlsa_ttl, j.usages AS usages, j.outcome AS outcome,
       j.published_at AS published_at, j.addresses AS addresses,
       if(h.class = '', 'unknown', h.class) AS class
FROM judged AS j
LEFT JOIN host_class AS h ON h.scan_id = j.scan_id AND h.host = j.host;
