"""The analysis files: parameters are real ClickHouse query parameters, headers say what each
answers, shared blocks stay identical, and bad parameter values are one-line QueryErrors."""

from __future__ import annotations

import re

import pytest

from queries.catalog import QueryError, bind, catalog, convert, get, parse_params

SHARED = ("classification", "rollovers")


def test_every_file_has_a_header_naming_its_question_and_parameters() -> None:
    assert len(catalog()) >= 12
    for q in catalog().values():
        assert q.header.startswith(f"{q.name}:"), q.name
        assert "Parameters:" in q.header, q.name
        for p in q.params:
            assert p in q.header.split("Parameters:", 1)[1], (q.name, p)


def test_no_python_formatting_in_sql() -> None:
    for q in catalog().values():
        assert "%(" not in q.sql and "{{" not in q.sql, q.name
        braces = re.findall(r"\{[^}]*\}", re.sub(r"--[^\n]*", "", q.sql))
        assert all(re.fullmatch(r"\{\w+:\w+\}", b) for b in braces), (q.name, braces)


def test_shared_blocks_are_identical_everywhere() -> None:
    for tag in SHARED:
        pattern = re.compile(rf"-- BEGIN {tag}.*?-- END {tag}\n", re.S)
        blocks = {q.name: m.group(0) for q in catalog().values() if (m := pattern.search(q.sql))}
        assert len(blocks) >= 2, tag
        assert len(set(blocks.values())) == 1, (tag, sorted(blocks))


def test_parameter_types_are_checked() -> None:
    q = get("management_validity")
    assert q.params == {"scan_id": "String", "threshold": "UInt32"}
    assert bind(q, {"scan_id": "x"}) == {"scan_id": "x", "threshold": 50}
    with pytest.raises(QueryError, match="UInt32"):
        bind(q, {"scan_id": "x", "threshold": "-1"})
    with pytest.raises(QueryError, match="UInt32"):
        bind(q, {"scan_id": "x", "threshold": str(2**32)})
    with pytest.raises(QueryError, match="no parameter 'since'"):
        bind(q, {"scan_id": "x", "since": "2026-01-01"})
    with pytest.raises(QueryError, match="needs --param scan_id"):
        bind(q, {})
    assert convert("since", "DateTime", "2026-01-01T05:00:00Z") == "2026-01-01 05:00:00"
    with pytest.raises(QueryError, match="DateTime"):
        convert("since", "DateTime", "yesterday")


def test_unknown_query_and_bad_param_syntax() -> None:
    with pytest.raises(QueryError, match="unknown query"):
        get("nope")
    with pytest.raises(QueryError, match="name=value"):
        parse_params(["threshold"])
    assert parse_params(["a=b=c"]) == {"a": "b=c"}


def _reads(sql: str, name: str) -> int:
    """How often ``name`` is read by a FROM or JOIN that evaluates it again: not inside
    ``IN (SELECT ...)``, whose set ClickHouse builds once per query."""
    sql = re.sub(r"--[^\n]*", "", sql)
    count = 0
    for m in re.finditer(rf"(?<!ARRAY )\b(?:FROM|JOIN)\s+{name}\b", sql):
        depth, i = 0, m.start()
        while i > 0:
            i -= 1
            if sql[i] == ")":
                depth += 1
            elif sql[i] == "(":
                if depth == 0:
                    break
                depth -= 1
        before = sql[:i].rstrip().upper()
        if not before.endswith(" IN"):
            count += 1
    return count


def test_shared_ctes_are_evaluated_once() -> None:
    """ClickHouse evaluates a CTE at every FROM/JOIN that names it: at 10 M rows a CTE read twice
    (or a chain of them) is what made the classification and rollover queries slow."""
    for tag in SHARED:
        pattern = re.compile(rf"-- BEGIN {tag}.*?-- END {tag}\n", re.S)
        for q in catalog().values():
            m = pattern.search(q.sql)
            if not m:
                continue
            for name in re.findall(r"^(\w+) AS \(", m.group(0), re.M):
                assert _reads(q.sql, name) <= 1, (q.name, name, _reads(q.sql, name))
