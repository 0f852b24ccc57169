DROP TABLE IF EXISTS scans {{on_cluster}};
