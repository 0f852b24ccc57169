DROP TABLE IF EXISTS starttls_probes {{on_cluster}};
