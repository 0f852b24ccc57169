"""Shared fixtures of the integration tests."""

from tests.integration.clickhouse_fixtures import (  # noqa: F401 - fixtures are found by name
    chdb_path,
    clickhouse_server,
    clickhouse_url,
    db_target,
)
from tests.integration.lab_fixtures import lab  # noqa: F401
