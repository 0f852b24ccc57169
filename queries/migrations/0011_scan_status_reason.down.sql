ALTER TABLE scans {{on_cluster}} DROP COLUMN status_reason;
