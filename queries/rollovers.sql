-- rollovers: every key change of a DANE MX host between consecutive snapshots, judged with the
-- rules of methodology.md section 5. Paper: section 5.2 (key rollovers: "87-92 % of MXs roll
-- over wrongly at least once; 72-84 % ignore the TTL") and the rollover-outcomes-over-time figure.
-- A change is a new leaf key, issuer key or leaf certificate at snapshot t (the first snapshot
-- in which an address of the host presents it), judged per (host, address) against the host's
-- TLSA timeline (every snapshot whose TLSA lookup answered, whatever the probe did), with T the
-- TLSA TTL resolvers may still hold at t:
--   not-secure     the TLSA RRset before the switch is not secure: DANE was not in effect, not judged;
--   short-ttl      2T is shorter than the interval between the address's snapshots: not judged;
--   not-updated / updated-later   the records at t do not match the new chain, and never / only
--                  later do;
--   early-retract  the records matched the old chain, and before t they stopped doing so (the
--                  last snapshot before t, or any snapshot after the new record was published);
--                  this wins over same-time (old removed an hour early, new added at the switch);
--   before-window  the window holds no TLSA snapshot before t; or none before t has a record for
--                  the old chain (whether and when it was withdrawn lies before the window); or
--                  the new record is in the first one and that is later than t - 2T (its
--                  publication time is outside the window);
--   same-time      the records matched the new chain only from t on;
--   too-late       a record for the new chain was first visible after t - 2T;
--   correct        visible at t - 2T and the old one kept until t ("current + next", "3 1 1 + 2 1 1").
-- Not a rollover at all: a change after which every record that designated the old chain still
-- designates the new one (a renewal that keeps the key under 3 1 1, an issuer change under
-- 3 x x): nothing had to change; renewals.sql counts renewals.
-- T: the TTL of the last TLSA RRset before t, or a larger one seen before t whose 2T reaches t
-- (resolvers that cached it may still hold the old RRset).
-- A record matches a chain as in the verdict (workers/dane/certs.py, CertDigests.association):
-- usages 3/1 at the leaf, 2/0 above it, every selector 0/1 and matching type 0/1/2.
-- One row per (host, switch time): the worst outcome of its addresses (addresses: each one's).
-- class: the management class of the domains the host serves at t (methodology section 4;
-- 'mixed' when they differ). Decisions: queries/DECISIONS.md.
-- Reads the view rollover_switches (queries/migrations/0016_chain_changes.sql), where the rules
-- live; it reads each snapshot's rows stored at its scan's close (with the chain changes found
-- then), and domain_classes for the class.
-- Parameters: since DateTime, until DateTime (snapshot times), threshold UInt32 (50).
SELECT at AS switch_at, host AS mx_host, change, tlsa_ttl, usages, class, outcome,
       toUInt32(t - t0) AS interval_s,
       if(published_at = 4294967295, NULL, toDateTime(published_at, 'UTC')) AS new_record_seen,
       addresses
FROM rollover_switches(since = {since:DateTime}, until = {until:DateTime}, threshold = {threshold:UInt32})
ORDER BY switch_at, mx_host
