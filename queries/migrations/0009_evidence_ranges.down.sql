-- Narrowing casts: a key_bits above 65535 or a depth beyond Int16 does not survive the way down.
ALTER TABLE domains {{on_cluster}} DROP COLUMN bad_mx_reasons;
ALTER TABLE domains {{on_cluster}} DROP COLUMN bad_mx;
ALTER TABLE domains {{on_cluster}} DROP COLUMN error;
ALTER TABLE starttls_probes {{on_cluster}} DROP COLUMN chain_truncated;
ALTER TABLE dane_verdicts {{on_cluster}} MODIFY COLUMN matched_depth Int16;
ALTER TABLE dns_rrsets {{on_cluster}} MODIFY COLUMN attempts UInt8;
ALTER TABLE certificates {{on_cluster}} DROP COLUMN clamped;
ALTER TABLE certificates {{on_cluster}} DROP COLUMN problems;
ALTER TABLE certificates {{on_cluster}} MODIFY COLUMN key_bits UInt16;
