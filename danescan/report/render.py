"""Results as readable text tables, CSV, TSV, JSON or JSON lines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from typing import Any

from queries.run import Result


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def table(result: Result, limit: int | None = None) -> str:
    rows = [[cell(v) for v in r] for r in result.rows[:limit]]
    widths = [len(c) for c in result.columns]
    for r in rows:
        widths = [max(w, len(v)) for w, v in zip(widths, r, strict=True)]
    numeric = [all(_is_number(r[i]) for r in result.rows) for i in range(len(result.columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line(result.columns), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if limit is not None and len(result.rows) > limit:
        out.append(f"... {len(result.rows) - limit} more rows")
    if not result.rows:
        out.append("(no rows)")
    return "\n".join(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_csv(result: Result) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(result.columns)
    for r in result.rows:
        w.writerow([cell(v) for v in r])
    return buf.getvalue()


def _tsv_cell(value: Any) -> str:
    """ClickHouse's TabSeparated escaping: backslash, tab and line breaks escaped."""
    if value is None:
        return "\\N"
    text = cell(value)
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def to_tsv(result: Result) -> str:
    """TabSeparatedWithNames: a header line, then one line per row."""
    lines = ["\t".join(_tsv_cell(c) for c in result.columns)]
    lines.extend("\t".join(_tsv_cell(v) for v in r) for r in result.rows)
    return "\n".join(lines) + "\n"


def to_jsonl(result: Result) -> str:
    """One JSON object per row (no header): what pandas.read_json(lines=True) reads."""
    return "".join(json.dumps({k: jsonable(v) for k, v in zip(result.columns, r, strict=True)})
                   + "\n" for r in result.rows)


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return cell(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def to_json(result: Result) -> dict[str, Any]:
    return {"query": result.name, "params": {k: jsonable(v) for k, v in result.params.items()},
            "columns": result.columns,
            "rows": [{k: jsonable(v) for k, v in zip(result.columns, r, strict=True)}
                     for r in result.rows]}


def render(result: Result, fmt: str) -> str:
    if fmt == "csv":
        return to_csv(result)
    if fmt == "tsv":
        return to_tsv(result)
    if fmt == "jsonl":
        return to_jsonl(result)
    if fmt == "json":
        return json.dumps(to_json(result), indent=1)
    return table(result)
