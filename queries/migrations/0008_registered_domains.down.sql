ALTER TABLE domains {{on_cluster}} DROP COLUMN ns_registered;
ALTER TABLE domains {{on_cluster}} DROP COLUMN mx_registered;
ALTER TABLE domains {{on_cluster}} DROP COLUMN registered;
