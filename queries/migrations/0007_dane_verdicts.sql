-- One DANE verdict per (scan, MX host, IP); ip = '' for the verdict on the MX name as a whole.
-- Both views: the RFC 7672 client's (rfc_outcome, valid/reason) and the paper's (paper_valid).
CREATE TABLE IF NOT EXISTS dane_verdicts {{on_cluster}} (
    scan_id            String,
    mx_host            String,
    ip                 String,
    valid              UInt8,
    reason             String,          -- DaneReason, '' when valid
    rfc_outcome        String,          -- RfcOutcome
    paper_valid        UInt8,           -- PKIX usages checked against the Mozilla roots, as the paper did
    tlsa_dnssec_status String,          -- DnssecStatus of the TLSA RRset
    matched_usage      Int16,           -- -1 when nothing matched
    matched_selector   Int16,
    matched_mtype      Int16,
    matched_depth      Int16,           -- 0 = leaf
    leaf_spki_sha256   String,
    leaf_cert_sha256   String,
    verified_at        DateTime('UTC'),
    worker_host        String,
    written_at         DateTime('UTC'),
    attempt            UInt16,
    version            UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (scan_id, mx_host, ip);
