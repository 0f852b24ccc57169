-- Each certificate once, by the SHA-256 of its DER. The writer sets version so that the row
-- with the earliest first_seen wins after FINAL.
CREATE TABLE IF NOT EXISTS certificates {{on_cluster}} (
    sha256         String,          -- lower-case hex of SHA-256(DER)
    der            String,          -- raw DER bytes
    subject        String,          -- RFC 4514
    issuer         String,          -- RFC 4514
    san            Array(String),   -- DNS names
    not_before     DateTime('UTC'), -- clamped to the DateTime range (1970..2105)
    not_after      DateTime('UTC'),
    spki_sha256    String,          -- hex
    spki_sha512    String,          -- hex
    key_type       String,          -- rsa, ec, ed25519, ...
    key_bits       UInt16,
    is_ca_issued   UInt8,
    issuer_org     String,
    issuer_cn      String,
    first_seen     DateTime('UTC'),
    scan_id        String,          -- scan of the first sighting
    worker_host    String,
    written_at     DateTime('UTC'),
    attempt        UInt16,
    version        UInt64
) ENGINE = {{engine:replacing(version)}}
ORDER BY sha256;
