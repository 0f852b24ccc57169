DROP TABLE IF EXISTS tlsa_records {{on_cluster}};
