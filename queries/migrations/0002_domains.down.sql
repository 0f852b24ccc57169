DROP TABLE IF EXISTS domains {{on_cluster}};
