"""ClickHouse storage: backends (chdb, clickhouse-server), migrations, row schemas and the writer."""
