-- Per-(MX host, snapshot) tables for the analyses (issue 17), filled by materialized views as the
-- writer inserts, so that every analysis reads a host's history from rows sorted by host instead
-- of recomputing it from the evidence tables. Nothing here depends on a query parameter.
-- Each keeps the identity and version of the row it comes from (ReplacingMergeTree(version)):
-- after FINAL it holds what the evidence table holds after FINAL. The backfill INSERTs at the end
-- copy rows written before this migration (on a cluster, run them on every shard).
--
-- tlsa_snapshots: per (MX host, scan, TLSA record), the record as the rollover judgement compares
-- it: cityHash64 of 'usage selector mtype data' with a matching type 0 record read through its
-- SHA-256 (workers/dane/certs.py CertDigests.association). One row per verdict on the MX name
-- (record = 0) says whether the TLSA lookup answered with no records (no_tlsa = 1): a host's
-- TLSA timeline is every snapshot with records or with no_tlsa = 1.
CREATE TABLE IF NOT EXISTS tlsa_snapshots {{on_cluster}} (
    mx_host        String,
    scan_id        String,
    record         UInt64,          -- 0: the row of the verdict on the name
    usage          UInt8,
    ttl            UInt32,
    dnssec_status  String,
    no_tlsa        UInt8,           -- on record = 0: the verdict's reason is no-tlsa
    version        UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (mx_host, scan_id, record);

CREATE MATERIALIZED VIEW IF NOT EXISTS tlsa_snapshots_of_records {{on_cluster}} TO tlsa_snapshots AS
SELECT mx_host, scan_id,
       cityHash64(concat(toString(usage), ' ', toString(selector), ' ', if(mtype = 0, '1', toString(mtype)), ' ',
                         if(mtype = 0, lower(hex(SHA256(unhex(data)))), data))) AS record,
       usage, ttl, dnssec_status, toUInt8(0) AS no_tlsa, version
FROM tlsa_records;

CREATE MATERIALIZED VIEW IF NOT EXISTS tlsa_snapshots_of_verdicts {{on_cluster}} TO tlsa_snapshots AS
SELECT mx_host, scan_id, toUInt64(0) AS record, toUInt8(0) AS usage, toUInt32(0) AS ttl,
       'secure' AS dnssec_status, toUInt8(reason = 'no-tlsa') AS no_tlsa, version
FROM dane_verdicts
WHERE ip = '';

-- probe_snapshots: per (MX host, address, scan), the STARTTLS outcome and the chain presented,
-- with cityHash64 of its first two certificates' SHA-256 (leaf, issuer), so that the addresses
-- whose chain changed inside a window are found without reading the chains.
CREATE TABLE IF NOT EXISTS probe_snapshots {{on_cluster}} (
    mx_host        String,
    ip             String,
    scan_id        String,
    status         String,
    leaf           UInt64,          -- cityHash64(chain[1]); cityHash64('') when no chain
    issuer         UInt64,          -- cityHash64(chain[2])
    chain          Array(String),
    version        UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (mx_host, ip, scan_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS probe_snapshots_of_probes {{on_cluster}} TO probe_snapshots AS
SELECT mx_host, ip, scan_id, status, cityHash64(chain[1]) AS leaf, cityHash64(chain[2]) AS issuer, chain, version
FROM starttls_probes;

INSERT INTO tlsa_snapshots (mx_host, scan_id, record, usage, ttl, dnssec_status, no_tlsa, version)
SELECT mx_host, scan_id,
       cityHash64(concat(toString(usage), ' ', toString(selector), ' ', if(mtype = 0, '1', toString(mtype)), ' ',
                         if(mtype = 0, lower(hex(SHA256(unhex(data)))), data))),
       usage, ttl, dnssec_status, 0, version
FROM tlsa_records;

INSERT INTO tlsa_snapshots (mx_host, scan_id, record, usage, ttl, dnssec_status, no_tlsa, version)
SELECT mx_host, scan_id, 0, 0, 0, 'secure', reason = 'no-tlsa', version
FROM dane_verdicts
WHERE ip = '';

INSERT INTO probe_snapshots (mx_host, ip, scan_id, status, leaf, issuer, chain, version)
SELECT mx_host, ip, scan_id, status, cityHash64(chain[1]), cityHash64(chain[2]), chain, version
FROM starttls_probes;

-- For the management classes (methodology.md section 4), what the rules count per scan, so that
-- classifying the domains of a few MX hosts (the rollovers' class column) reads a few rows:
-- mx_domains: per (scan, MX host, domain), the domain's row as the classification reads it, so
-- that the domains one MX host serves are one range of rows (domains is sorted by domain).
CREATE TABLE IF NOT EXISTS mx_domains {{on_cluster}} (
    scan_id          String,
    mx_host          String,
    domain           String,
    null_mx          UInt8,
    registered       String,
    mx               Array(String),
    mx_registered    Array(String),
    ns               Array(String),
    ns_registered    Array(String),
    mx_dnssec_status String,
    version          UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (scan_id, mx_host, domain);

CREATE MATERIALIZED VIEW IF NOT EXISTS mx_domains_of_domains {{on_cluster}} TO mx_domains AS
SELECT scan_id, mx_host, domain, null_mx, registered, mx, mx_registered, ns, ns_registered,
       mx_dnssec_status, version
FROM domains
ARRAY JOIN mx AS mx_host;

-- registered_loads: per (scan, side MX or NS, registered domain), the domains whose MX (no null
-- MX) or NS host is under it (rule 3), as uniqExact states: uniqExactMerge(domains) counts each
-- domain once. The registered domain is the Public Suffix List's stored with the row (migration
-- 0008), or ClickHouse's cutToFirstSignificantSubdomain for rows written before it.
CREATE TABLE IF NOT EXISTS registered_loads {{on_cluster}} (
    scan_id        String,
    side           String,          -- MX | NS
    reg            String,
    domains        AggregateFunction(uniqExact, String)
) ENGINE = {{engine:aggregating}}
ORDER BY (scan_id, side, reg);

CREATE MATERIALIZED VIEW IF NOT EXISTS registered_loads_of_mx {{on_cluster}} TO registered_loads AS
SELECT scan_id, 'MX' AS side, reg, uniqExactState(domain) AS domains
FROM (SELECT scan_id, domain, arrayJoin(if(length(mx_registered) = length(mx), mx_registered,
             arrayMap(x -> cutToFirstSignificantSubdomain(x), mx))) AS reg
      FROM domains WHERE null_mx = 0)
GROUP BY scan_id, side, reg;

CREATE MATERIALIZED VIEW IF NOT EXISTS registered_loads_of_ns {{on_cluster}} TO registered_loads AS
SELECT scan_id, 'NS' AS side, reg, uniqExactState(domain) AS domains
FROM (SELECT scan_id, domain, arrayJoin(if(length(ns_registered) = length(ns), ns_registered,
             arrayMap(x -> cutToFirstSignificantSubdomain(x), ns))) AS reg
      FROM domains)
GROUP BY scan_id, side, reg;

-- address_names: per (scan, address, name), the names whose A or AAAA RRset holds the address
-- (rule 1: an address shared by more than the threshold of MX host names).
CREATE TABLE IF NOT EXISTS address_names {{on_cluster}} (
    scan_id        String,
    ip             String,
    qname          String,
    qtype          String,
    status         String,
    version        UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (scan_id, ip, qname, qtype);

CREATE MATERIALIZED VIEW IF NOT EXISTS address_names_of_rrsets {{on_cluster}} TO address_names AS
SELECT scan_id, ip, qname, qtype, status, version
FROM dns_rrsets
ARRAY JOIN records AS ip
WHERE qtype IN ('A', 'AAAA');

INSERT INTO mx_domains (scan_id, mx_host, domain, null_mx, registered, mx, mx_registered, ns,
                        ns_registered, mx_dnssec_status, version)
SELECT scan_id, mx_host, domain, null_mx, registered, mx, mx_registered, ns, ns_registered,
       mx_dnssec_status, version
FROM domains
ARRAY JOIN mx AS mx_host;

INSERT INTO registered_loads (scan_id, side, reg, domains)
SELECT scan_id, 'MX', reg, uniqExactState(domain)
FROM (SELECT scan_id, domain, arrayJoin(if(length(mx_registered) = length(mx), mx_registered,
             arrayMap(x -> cutToFirstSignificantSubdomain(x), mx))) AS reg
      FROM domains WHERE null_mx = 0)
GROUP BY scan_id, reg;

INSERT INTO registered_loads (scan_id, side, reg, domains)
SELECT scan_id, 'NS', reg, uniqExactState(domain)
FROM (SELECT scan_id, domain, arrayJoin(if(length(ns_registered) = length(ns), ns_registered,
             arrayMap(x -> cutToFirstSignificantSubdomain(x), ns))) AS reg
      FROM domains)
GROUP BY scan_id, reg;

INSERT INTO address_names (scan_id, ip, qname, qtype, status, version)
SELECT scan_id, ip, qname, qtype, status, version
FROM dns_rrsets
ARRAY JOIN records AS ip
WHERE qtype IN ('A', 'AAAA');
