"""The analysis files: parameters are real ClickHouse query parameters, headers say what each
answers, shared rules are written once (the views of migrations 0013-0017, read by the files), and bad
parameter values are one-line QueryErrors."""

from __future__ import annotations

import re

import pytest

from queries.catalog import QueryError, bind, catalog, convert, get, parse_params
from workers.store.migrations import discover, split_statements

VIEWS = {"domain_classes": ("class_snapshots_of", "host_classes_of"),
         "rollover_switches": ("rollovers", "rollover_outcomes"),
         "probe_snapshots_of": ("rollover_switches",),
         "tlsa_snapshots_of": ("rollover_switches",),
         "host_classes_of": ("rollover_switches",),
         "leaf_snapshots_of": ("renewals", "mismatch_reasons"),
         "stored_scans": ("rollover_switches", "renewals", "mismatch_reasons", "stored_sequence",
                          "class_rows"),
         "stored_sequence": ("chain_changes_of", "current_change_sets"),
         "current_change_sets": ("rollover_switches",),  # and workers/store/snapshots.py
         "chain_changes_of": (),  # read by workers/store/snapshots.py
         "class_snapshots_of": ("class_rows",),  # and workers/store/snapshots.py
         "class_rows": ("management_classes", "management_validity")}


def _views() -> dict[str, str]:
    """The analysis views' SELECTs as the migrations leave them (0013's, and those of 0014 to
    0017; 0014 to 0016 replace rollover_switches), by name; not the materialized views that fill
    tables."""
    out = {}
    for m in discover():
        for statement in split_statements(m.up):
            head = re.match(r"CREATE VIEW IF NOT EXISTS (\w+) \{\{on_cluster\}\} AS\n", statement)
            if head:
                out[head.group(1)] = statement[head.end():]
    return out


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


def test_shared_rules_are_written_once_in_views_that_files_read() -> None:
    views = _views()
    assert set(views) == set(VIEWS)
    texts = {**{q.name: q.sql for q in catalog().values()}, **views}
    for view, readers in VIEWS.items():
        for name, sql in texts.items():
            reads = bool(re.search(rf"\bFROM\s+{view}\(", sql))
            assert reads == (name in readers), (view, name)
    # no file repeats a CTE of a view (the rules would be written twice again); ``picked``, the
    # snapshots of a time window, is two lines that renewals.sql has too, and ``stored`` is a
    # read of the view stored_scans
    ctes = {c for sql in views.values() for c in re.findall(r"^(\w+) AS \(", sql, re.M)} - {"picked", "stored"}
    assert {"mx_busy", "sides", "classified", "probe_snaps", "judged"} <= ctes
    for q in catalog().values():
        assert not ctes & set(re.findall(r"^(\w+) AS \(", q.sql, re.M)), q.name


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
    """ClickHouse evaluates a CTE (and a view) at every FROM/JOIN that names it: at 10 M rows a
    CTE read twice (or a chain of them) is what made the classification and rollover queries
    slow."""
    views = _views()
    for name, sql in views.items():  # ``picked``: the snapshots of the window, a few rows
        for cte in set(re.findall(r"^(\w+) AS \(", sql, re.M)) - {"picked"}:
            assert _reads(sql, cte) <= 1, (name, cte, _reads(sql, cte))
    for name, sql in {**{q.name: q.sql for q in catalog().values()}, **views}.items():
        for view in VIEWS:
            assert _reads(sql, view) <= 1, (name, view)
