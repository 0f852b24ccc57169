ALTER TABLE starttls_probes {{on_cluster}} DROP COLUMN inferred_from;
ALTER TABLE dane_verdicts {{on_cluster}} DROP COLUMN addresses_cut;
ALTER TABLE domains {{on_cluster}} DROP COLUMN mx_hosts_cut;
