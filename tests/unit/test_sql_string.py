"""String literals for the few SQL texts that cannot use query parameters."""

from workers.store.backend import sql_string


def test_quotes_and_backslashes_are_escaped() -> None:
    assert sql_string("scan-1") == "'scan-1'"
    assert sql_string("it's") == "'it\\'s'"
    assert sql_string("a\\'; DROP TABLE x; --") == "'a\\\\\\'; DROP TABLE x; --'"
