DROP TABLE IF EXISTS certificates {{on_cluster}};
