DROP TABLE IF EXISTS dane_verdicts {{on_cluster}};
