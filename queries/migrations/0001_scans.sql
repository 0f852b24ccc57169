-- One row per scan. Re-written when the scan finishes; the highest version wins after FINAL.
-- Enum-like columns are String and hold values of danescan/vocab.py.
CREATE TABLE IF NOT EXISTS scans {{on_cluster}} (
    scan_id          String,
    kind             String,           -- nightly | hourly | adhoc
    started_at       DateTime('UTC'),
    finished_at      DateTime('UTC'),  -- 1970-01-01 00:00:00 while running
    inputs           Array(String),    -- zone files or domain lists
    settings         String,           -- JSON object
    software_version String,
    status           String,           -- running | finished | failed | interrupted
    worker_host      String,
    written_at       DateTime('UTC'),
    attempt          UInt16,
    version          UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY scan_id;
