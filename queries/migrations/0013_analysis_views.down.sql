DROP VIEW IF EXISTS rollover_switches {{on_cluster}};
DROP VIEW IF EXISTS domain_classes {{on_cluster}};
