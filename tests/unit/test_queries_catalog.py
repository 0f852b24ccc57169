"""The analysis files: parameters are real ClickHouse query parameters, headers say what each
answers, no block of SQL is copied between them (shared blocks are views of migration 0014), and
bad parameter values are one-line QueryErrors."""

from __future__ import annotations

import re

import pytest

from queries.catalog import QUERY_DIR, QueryError, bind, catalog, convert, get, parse_params

VIEWS = QUERY_DIR / "migrations" / "0014_shared_blocks.sql"
# which analysis files read which shared view
READERS = {"domain_classes": {"management_classes", "management_validity"},
           "rollover_judgements": {"rollovers", "rollover_outcomes"}}


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


def _code_lines(sql: str) -> list[str]:
    """The lines of SQL without comments and blanks, whitespace collapsed."""
    lines = (" ".join(line.split("--", 1)[0].split()) for line in sql.splitlines())
    return [line for line in lines if len(line) > 25]


def _shared_runs(a: list[str], b: list[str], run: int) -> list[str]:
    """Runs of ``run`` consecutive lines found in both ``a`` and ``b``."""
    seen = {tuple(a[i:i + run]) for i in range(len(a) - run + 1)}
    return ["\n".join(b[i:i + run]) for i in range(len(b) - run + 1) if tuple(b[i:i + run]) in seen]


def test_no_block_is_copied() -> None:
    """Each shared block is written once (a view of migration 0014): no four consecutive lines of
    code appear in two analysis files, or in an analysis file and the views."""
    texts = {q.name: _code_lines(q.sql) for q in catalog().values()}
    texts["0014 views"] = _code_lines(VIEWS.read_text())
    names = sorted(texts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert _shared_runs(texts[a], texts[b], 4) == [], (a, b)
    for q in catalog().values():
        assert "-- BEGIN" not in q.sql, q.name


def test_the_rules_are_written_once_and_read_through_the_views() -> None:
    views = VIEWS.read_text()
    for rule in ("multiIf(mx_kinds = ['outsourced'], 'SO'", "'not-updated', 'updated-later', 'early-retract'",
                 "HAVING uniqExactMerge(domains) > {threshold:UInt32}", "2 * tlsa_ttl < t - t0, 'short-ttl'"):
        assert views.count(rule) >= 1, rule
        assert not [q.name for q in catalog().values() if rule in q.sql], rule
    for view, readers in READERS.items():
        assert {q.name for q in catalog().values() if f"{view}(" in q.sql} == readers, view


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


def _ctes(body: str) -> dict[str, str]:
    return {m.group(1): body[m.end():] for m in re.finditer(r"^(\w+) AS \(", body, re.M)}


def test_shared_ctes_are_evaluated_once() -> None:
    """ClickHouse evaluates a CTE at every FROM/JOIN that names it: at 10 M rows a CTE read twice
    (or a chain of them) is what made the classification and rollover queries slow. In the views,
    a CTE read twice must be one that reads a scalar subquery (evaluated once per query) or the
    few rows of scans."""
    views = VIEWS.read_text()
    bodies = [("0014", b) for b in views.split("CREATE VIEW")[1:]] + [
        (q.name, q.sql) for q in catalog().values() if q.name in set().union(*READERS.values())]
    for where, body in bodies:
        for name, rest in _ctes(body).items():
            if _reads(body, name) > 1:
                definition = rest.split("\n)", 1)[0]
                # or the snapshot list, a few rows of scans
                assert "arrayJoin((" in definition or "FROM scans FINAL" in definition, (where, name)
