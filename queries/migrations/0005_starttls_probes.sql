-- One row per (scan, MX host, IP) probed: how far STARTTLS got and what the server presented.
CREATE TABLE IF NOT EXISTS starttls_probes {{on_cluster}} (
    scan_id         String,
    mx_host         String,
    ip              String,
    status          String,          -- SmtpStatus
    step            String,          -- last protocol step reached: connect, banner, ehlo, starttls, handshake
    banner          String,
    ehlo            String,
    starttls_reply  String,
    tls_version     String,
    cipher          String,
    chain           Array(String),   -- SHA-256 hex of each certificate, leaf first (see certificates)
    probed_at       DateTime('UTC'),
    connect_ms      Float32,
    banner_ms       Float32,
    handshake_ms    Float32,
    total_ms        Float32,
    error           String,
    worker_host     String,
    written_at      DateTime('UTC'),
    attempt         UInt16,
    version         UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY (scan_id, mx_host, ip);
