DROP TABLE IF EXISTS rollover_judgements {{on_cluster}};
DROP TABLE IF EXISTS rollover_changes {{on_cluster}};
DROP TABLE IF EXISTS domain_classes {{on_cluster}};
