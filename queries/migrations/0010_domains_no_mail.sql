-- A domain with neither MX nor an address has no mail service (RFC 5321 section 5.1 falls back to
-- the domain itself only when it has an address): no_mail = 1, no MX host, no verdict row.
ALTER TABLE domains {{on_cluster}} ADD COLUMN no_mail UInt8 DEFAULT 0;
