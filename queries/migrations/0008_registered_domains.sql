-- The registered domain by the Public Suffix List (workers/psl.py, computed when the row is
-- written) of the domain, of each MX host (parallel to mx) and of each NS host (parallel to ns).
-- ClickHouse's cutToFirstSignificantSubdomain only approximates the list (methodology.md 4).
ALTER TABLE domains {{on_cluster}} ADD COLUMN registered String DEFAULT '';
ALTER TABLE domains {{on_cluster}} ADD COLUMN mx_registered Array(String) DEFAULT [];
ALTER TABLE domains {{on_cluster}} ADD COLUMN ns_registered Array(String) DEFAULT [];
