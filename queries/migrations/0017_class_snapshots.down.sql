-- Back to 0016: the class tables and their views go (management_classes.sql and
-- management_validity.sql of this version read class_rows: they need 0017).
DROP VIEW IF EXISTS class_rows {{on_cluster}};
DROP TABLE IF EXISTS class_sets {{on_cluster}};
DROP TABLE IF EXISTS class_snapshots {{on_cluster}};
DROP VIEW IF EXISTS class_snapshots_of {{on_cluster}};
