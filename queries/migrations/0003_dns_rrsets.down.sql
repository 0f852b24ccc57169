DROP TABLE IF EXISTS dns_rrsets {{on_cluster}};
