-- One row per TLSA record at _25._tcp.<mx_host> per scan.
CREATE TABLE IF NOT EXISTS tlsa_records {{on_cluster}} (
    scan_id        String,
    mx_host        String,
    base_name      String,          -- owner the records were found at (after CNAMEs)
    usage          UInt8,
    selector       UInt8,
    mtype          UInt8,
    data           String,          -- certificate association data, lower-case hex
    ttl            UInt32,
    dnssec_status  String,          -- DnssecStatus of the TLSA RRset
    dnssec_reason  String,          -- DnssecReason
    worker_host    String,
    written_at     DateTime('UTC'),
    attempt        UInt16,
    version        UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (scan_id, mx_host, usage, selector, mtype, data);
