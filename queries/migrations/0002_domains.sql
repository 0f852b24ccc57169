-- One row per (scan, domain): what the zone file and the MX/NS/DS/DNSKEY lookups said.
CREATE TABLE IF NOT EXISTS domains {{on_cluster}} (
    scan_id            String,
    domain             String,
    tld                String,
    ns                 Array(String),   -- NS set from the zone file (parent side)
    ds_in_parent       UInt8,
    has_dnskey         UInt8,
    mx                 Array(String),   -- MX hosts, lower case, no trailing dot
    mx_preferences     Array(UInt16),   -- parallel to mx
    implicit_mx        UInt8,           -- no MX RRset: the domain is its own MX (RFC 5321)
    null_mx            UInt8,           -- RFC 7505 "0 ."
    mx_status          String,          -- QueryStatus of the MX lookup
    mx_dnssec_status   String,          -- DnssecStatus
    mx_dnssec_reason   String,          -- DnssecReason
    status             String,          -- QueryStatus of the domain's lookups as a whole
    worker_host        String,
    written_at         DateTime('UTC'),
    attempt            UInt16,
    version            UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (scan_id, domain);
