-- One row per (scan, name, type) looked up: the DNS evidence, failures included.
-- A failed lookup has status != NOERROR and no records: never read it as "no records".
CREATE TABLE IF NOT EXISTS dns_rrsets {{on_cluster}} (
    scan_id        String,
    qname          String,
    qtype          String,          -- MX, NS, DS, DNSKEY, A, AAAA, TLSA, ...
    status         String,          -- QueryStatus
    rcode          Int16,           -- DNS RCODE of the final response, -1 when none came
    ttl            UInt32,
    records        Array(String),   -- RDATA in presentation format
    rrsig_count    UInt16,
    rrsigs         Array(String),   -- RRSIG RDATA in presentation format
    dnssec_status  String,          -- DnssecStatus
    dnssec_reason  String,          -- DnssecReason
    resolver       String,
    queried_at     DateTime('UTC'),
    duration_ms    Float32,
    attempts       UInt8,
    worker_host    String,
    written_at     DateTime('UTC'),
    attempt        UInt16,
    version        UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (scan_id, qname, qtype);
