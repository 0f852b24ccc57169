ALTER TABLE domains {{on_cluster}} DROP COLUMN no_mail;
