"""The interactive prompt of ``danescan sql``: statements end with ';' and may span lines, as in
clickhouse-client and duckdb's shell; line editing and history through the standard library's
readline, the history in ~/.danescan_history (one entry per statement, as one line)."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from danescan.report.render import render, table
from queries.catalog import QueryError
from queries.run import run_sql
from queries.sqltext import is_complete, one_line, placeholders, split_statements, strip_comments
from workers.store.backend import Database, StoreError

PROMPT = "danescan :) "
MORE = "         :-] "
EXIT = frozenset({"exit", "quit", "\\q", "exit;", "quit;", "\\q;"})
ROWS_SHOWN = 1000


def history_path() -> Path:
    return Path.home() / ".danescan_history"


def _readline() -> Any:
    try:
        import readline
    except ImportError:  # no readline on this platform: plain input(), no history
        return None
    return readline


def _collapse(rl: Any, start: int, text: str) -> None:
    """Replace the lines of one statement in the history by the statement as one line."""
    if rl is None:
        return
    for i in range(rl.get_current_history_length() - 1, start - 1, -1):
        with contextlib.suppress(ValueError):
            rl.remove_history_item(i)
    rl.add_history(one_line(text))


def _run(db: Database, text: str, given: dict[str, str], write: bool, fmt: str) -> None:
    for statement in split_statements(text):
        names = placeholders(statement)
        began = time.monotonic()
        try:
            result = run_sql(db, statement, {k: v for k, v in given.items() if k in names},
                             write=write)
        except (QueryError, StoreError) as exc:
            print(f"danescan: {exc}", file=sys.stderr, flush=True)
            return
        took = time.monotonic() - began
        if result.columns:
            shown = table(result, ROWS_SHOWN) if fmt == "table" else render(result, fmt)
            print(shown.rstrip("\n"))
        print(f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''} in {took:.3f} s\n",
              flush=True)


def interact(db: Database, given: dict[str, str], write: bool, fmt: str = "table") -> None:
    """Read statements until end of input or 'exit'; an error is one line and the prompt goes on.
    Results in ``fmt`` (a text format; tables show their first ROWS_SHOWN rows)."""
    rl = _readline()
    path = history_path()
    if rl is not None:
        with contextlib.suppress(OSError):
            rl.read_history_file(path)
        rl.set_history_length(10000)
    mode = "read-write" if write else "read-only"
    print(f"danescan sql on {db.target} ({mode}). End each statement with ';'; "
          "exit with Ctrl-D or 'exit'.", flush=True)
    lines: list[str] = []
    start = rl.get_current_history_length() if rl is not None else 0
    while True:
        try:
            line = input(MORE if lines else PROMPT)
        except EOFError:
            print()
            break
        except KeyboardInterrupt:  # drop the statement being typed, as shells do
            print()
            lines = []
            start = rl.get_current_history_length() if rl is not None else 0
            continue
        if not lines and line.strip().lower() in EXIT:
            break
        if not lines:
            start = (rl.get_current_history_length() - (1 if line.strip() else 0)
                     if rl is not None else 0)
        lines.append(line)
        text = "\n".join(lines)
        if not strip_comments(text).strip():
            lines = []
            continue
        if not is_complete(text):
            continue
        lines = []
        _collapse(rl, start, text)
        if rl is not None:
            with contextlib.suppress(OSError):
                rl.write_history_file(path)
        try:
            _run(db, text, given, write, fmt)
        except KeyboardInterrupt:  # a result still being read or printed: back to the prompt
            print("\n(interrupted)", flush=True)
