"""SQL text without an engine (queries/sqltext.py): statements, completeness at the prompt, the
history line, which statements a read-only session refuses, the engine's error in one line."""

from __future__ import annotations

import pytest

from queries.sqltext import (
    engine_message,
    first_keyword,
    inline_insert,
    is_complete,
    one_line,
    placeholders,
    position,
    refused_read_only,
    split_statements,
)


def test_split_ignores_semicolons_in_strings_identifiers_and_comments() -> None:
    text = ("SELECT 1; SELECT ';' AS a, 'it''s;' AS b, 'x\\';' AS c -- not; here\n;"
            " /* ; */ SELECT \"a;b\", `c;d` ;;  -- trailing ;\n")
    assert split_statements(text) == [
        "SELECT 1",
        "SELECT ';' AS a, 'it''s;' AS b, 'x\\';' AS c -- not; here",
        "/* ; */ SELECT \"a;b\", `c;d`",
    ]


def test_split_drops_pieces_of_only_blanks_and_comments() -> None:
    assert split_statements(" ; -- x\n ; /* y */") == []
    assert split_statements("SELECT 1") == ["SELECT 1"]


@pytest.mark.parametrize(("text", "complete"), [
    ("SELECT 1;", True),
    ("SELECT 1\n  FROM t\n;", True),
    ("SELECT 1; -- done", True),
    ("SELECT 1", False),
    ("SELECT 1 -- ;", False),
    ("SELECT ';", False),            # inside a string
    ("SELECT 'a'';", False),         # a doubled quote keeps the string open
    ("SELECT /* ; ", False),         # inside a block comment
    ("SELECT \"x;", False),          # inside an identifier
    (";", False),                    # no statement at all
    ("SELECT 'it''s';", True),
])
def test_is_complete(text: str, complete: bool) -> None:
    assert is_complete(text) is complete


def test_one_line_keeps_what_runs_and_drops_comments() -> None:
    text = "SELECT tld,\n   -- the TLD\n  'a  b' AS s /* c */\nFROM domains\n;"
    line = one_line(text)
    assert "\n" not in line and "--" not in line and "/*" not in line
    assert "'a  b'" in line  # inside quotes nothing changes
    assert line.split() == ["SELECT", "tld,", "'a", "b'", "AS", "s", "FROM", "domains", ";"]
    assert is_complete(line) and split_statements(line) == split_statements(line + "\n")


def test_one_line_keeps_a_line_break_inside_a_string() -> None:
    assert one_line("SELECT 'a\nb'\n;") == "SELECT 'a\nb' ;"


@pytest.mark.parametrize(("sql", "keyword", "refused"), [
    ("SELECT 1", "SELECT", ""),
    ("  (( select 1))", "SELECT", ""),
    ("/* x */ -- y\nWITH a AS (SELECT 1) SELECT * FROM a", "WITH", ""),
    ("show tables", "SHOW", ""),
    ("DESCRIBE TABLE domains", "DESCRIBE", ""),
    ("EXPLAIN SELECT 1", "EXPLAIN", ""),
    ("insert into scans select * from scans", "INSERT", "INSERT"),
    ("-- c\n DROP TABLE scans", "DROP", "DROP"),
    ("SET readonly = 0", "SET", "SET"),
    ("OPTIMIZE TABLE domains FINAL", "OPTIMIZE", "OPTIMIZE"),
    ("SELEC 1", "SELEC", ""),  # a typo goes to the (read-only) engine, which names the error
    # a SELECT that writes a file on this machine (chdb runs it under readonly = 1 all the same)
    ("SELECT * FROM domains INTO OUTFILE '/tmp/x' TRUNCATE", "SELECT", "INTO OUTFILE"),
    ("select 1 into\n  outfile 'x'", "SELECT", "INTO OUTFILE"),
    ("SELECT 'INTO OUTFILE' AS s -- into outfile\n", "SELECT", ""),
    ("", "", ""),
])
def test_first_keyword_and_what_read_only_refuses(sql: str, keyword: str, refused: str) -> None:
    assert first_keyword(sql) == keyword
    assert refused_read_only(sql) == refused


def test_inline_insert() -> None:
    assert inline_insert("INSERT INTO t VALUES (1)")
    assert inline_insert("insert into t format CSV 1")
    assert not inline_insert("INSERT INTO t SELECT 'values'")
    assert not inline_insert("SELECT 1 AS values_seen")


def test_placeholders_outside_comments() -> None:
    sql = "SELECT {a:UInt32}, {b:String} -- {c:String}\n/* {d:UInt8} */ WHERE x = {a:UInt32}"
    assert placeholders(sql) == {"a", "b"}


def test_position_counts_bytes_from_one() -> None:
    sql = "SELECT 'é'\nFORM t"
    # ClickHouse's position is a 1-based byte offset: 'é' is two bytes
    offset = sql.encode().index(b"FORM") + 1
    assert position(sql, offset) == (2, 1)
    assert position("SELEC 1", 7) == (1, 7)


def test_engine_message_chdb() -> None:
    raw = ("Code: 62. DB::Exception: Syntax error: failed at position 15 (t): t. Expected alias "
           "cannot be here. (SYNTAX_ERROR)")
    msg = engine_message(raw, "SELECT * FORM t")
    assert msg == ("line 1, column 15: Syntax error: failed at position 15 (t): t. Expected alias "
                   "cannot be here. (SYNTAX_ERROR)")


def test_engine_message_server_drops_the_stack_trace_and_keeps_one_line() -> None:
    raw = ("Code: 62.\nDB::Exception: Syntax error: failed at position 11: FORM t. Expected one "
           "of: token. Stack trace:\n\n0. /lib/x86_64-linux-gnu/libclickhouse.so.18.16(...)\n1. ...")
    msg = engine_message(raw, "SELECT 1\n FORM t")
    assert "\n" not in msg and "Stack trace" not in msg and "Code:" not in msg
    assert msg.startswith("line 2, column 2: Syntax error: failed at position 11")


def test_engine_message_wrapped_twice_with_version() -> None:
    raw = ("Code: 164. DB::Exception: Code: 164. DB::Exception: Cannot modify 'max_threads' "
           "setting in readonly mode. (READONLY) (version 26.9.2.1). (READONLY)")
    assert engine_message(raw) == "Cannot modify 'max_threads' setting in readonly mode. (READONLY)"


def test_engine_message_keeps_the_engines_own_line_and_column() -> None:
    raw = "Code: 62. DB::Exception: Syntax error: failed at position 15 (x) (line 2, col 6): x."
    assert engine_message(raw, "SELECT *\nFORM x") == \
        "Syntax error: failed at position 15 (x) (line 2, col 6): x."


def test_engine_message_is_cut() -> None:
    msg = engine_message("Code: 1. DB::Exception: " + "x" * 1000, limit=100)
    assert len(msg) == 100 and msg.endswith("...")
    assert engine_message("") == "unknown error"
