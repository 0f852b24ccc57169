"""``danescan sql``: any SQL on the --db of ``scan`` and ``query`` (chdb or a server).

The SQL comes from the argument, a file (-f) or standard input ('-', or a pipe); several
statements separated by ';' run in turn. With no SQL and a terminal on standard input, an
interactive prompt opens (danescan/sql_prompt.py). Read-only unless --write.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click

from danescan.errors import fail
from danescan.report.render import render
from danescan.report_cli import DB_DEFAULT
from queries.catalog import QueryError, parse_params
from queries.run import Result, open_db, run_sql, run_sql_arrow
from queries.sqltext import placeholders, split_statements
from workers.store.backend import ChdbDatabase, Database, StoreError

TEXT_FORMATS = ("table", "csv", "tsv", "json", "jsonl")
BINARY_FORMATS = ("parquet", "arrow")



def _source(sql: str | None, file: Path | None) -> str | None:
    """The SQL text, or None for the interactive prompt."""
    if sql is not None and file is not None:
        raise QueryError("give the SQL as an argument or with -f FILE, not both")
    if file is not None:
        try:
            return file.read_text()
        except OSError as exc:
            raise QueryError(f"{file}: cannot read it: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise QueryError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if sql == "-" or (sql is None and not sys.stdin.isatty()):
        try:
            return sys.stdin.read()
        except UnicodeDecodeError as exc:
            raise QueryError(f"standard input is not UTF-8 text: {exc}") from exc
    return sql


def emit(result: Result, fmt: str, out: IO[str] | None = None) -> None:
    """A text rendering of the result on ``out`` (standard output by default)."""
    text = render(result, fmt)
    stream = out or sys.stdout
    stream.write(text if text.endswith("\n") or not text else text + "\n")


def _write_binary(result: Any, fmt: str, output: Path | None) -> None:
    """A Result or a pyarrow.Table as a Parquet or Arrow file (or to a pipe)."""
    from danescan.report import columnar

    if output is None:
        if sys.stdout.isatty():
            raise QueryError(f"{fmt} is binary: give -o FILE or redirect standard output")
        sys.stdout.flush()
        columnar.write(result, fmt, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    try:
        with output.open("wb") as f:
            columnar.write(result, fmt, f)
    except OSError as exc:
        raise QueryError(f"{output}: cannot write it: {exc.strerror or exc}") from exc


def run_text(db: Database, text: str, given: dict[str, str], fmt: str, output: Path | None,
             write: bool) -> None:
    """Run every statement of ``text`` and write its result; the first error stops."""
    statements = split_statements(text)
    if not statements:
        raise QueryError("no SQL statement given")
    if fmt in BINARY_FORMATS and len(statements) > 1:
        raise QueryError(f"{fmt} holds one result: give one statement, not {len(statements)}")
    taken = [placeholders(s) for s in statements]
    unused = sorted(set(given) - set().union(*taken))
    if unused:
        raise QueryError(f"the SQL has no parameter {unused[0]!r}")
    if fmt in BINARY_FORMATS:
        used = {k: v for k, v in given.items() if k in taken[0]}
        if isinstance(db, ChdbDatabase):  # the engine's Arrow output, no Python rows
            _write_binary(run_sql_arrow(db, statements[0], used, write=write), fmt, output)
        else:
            _write_binary(run_sql(db, statements[0], used, write=write), fmt, output)
        return
    results = [run_sql(db, s, {k: v for k, v in given.items() if k in names}, write=write)
               for s, names in zip(statements, taken, strict=True)]
    try:
        out = output.open("w") if output is not None else None
    except OSError as exc:
        raise QueryError(f"{output}: cannot write it: {exc.strerror or exc}") from exc
    try:
        for result in results:
            if result.columns:
                emit(result, fmt, out)
    finally:
        if out is not None:
            out.close()


@click.command("sql", context_settings={"ignore_unknown_options": True})
@click.argument("sql", required=False)
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="read the SQL from this file")
@click.option("--db", "target", default=DB_DEFAULT, show_default=True,
              help="chdb directory or clickhouse://host:port/db")
@click.option("--param", "params", multiple=True, metavar="K=V",
              help="a value for a {K:Type} placeholder of the SQL")
@click.option("--format", "fmt", type=click.Choice([*TEXT_FORMATS, *BINARY_FORMATS]),
              default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the result to this file (parquet and arrow need it on a terminal)")
@click.option("--write", is_flag=True,
              help="allow statements that change the database (INSERT, CREATE, ALTER, ...)")
def sql(sql: str | None, file: Path | None, target: str, params: tuple[str, ...], fmt: str,
        output: Path | None, write: bool) -> None:
    """Run any SQL on the database: SQL as the argument, -f FILE, or '-' for standard input.

    \b
    With no SQL on a terminal, an interactive prompt opens: statements end with ';', history
    in ~/.danescan_history. Values go in as ClickHouse query parameters:
      danescan sql "SELECT count() FROM domains FINAL WHERE scan_id = {s:String}" --param s=demo
    Read-only unless --write. Exit status 2 with one line on stderr for SQL the engine refuses.
    """
    try:
        given = parse_params(params)
        text = _source(sql, file)
        if text is None:
            from danescan.sql_prompt import interact

            if fmt in BINARY_FORMATS or output is not None:
                raise QueryError("the interactive prompt shows results on the terminal: give the "
                                 "SQL (or -f FILE) to write a file")
            db = open_db(target, write=write)
            try:
                interact(db, given, write, fmt)
            finally:
                db.close()
            return
        if not split_statements(text):
            raise QueryError("no SQL statement given")
        db = open_db(target, write=write)
        try:
            run_text(db, text, given, fmt, output, write)
        finally:
            db.close()
    except (QueryError, StoreError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
