"""The analysis SQL files of queries/ and how to run them with ClickHouse query parameters.

Each ``queries/NAME.sql`` (migrations excluded) answers one question. Its parameters are written as
ClickHouse query parameters (``{scan_id:String}``, ``{threshold:UInt32}``, ``{since:DateTime}``),
so ``clickhouse-client --param_scan_id=...`` runs the same file. Values are checked here first, so
that a wrong type is a one-line message, then handed to the engine as parameters (never formatted
into the SQL): chdb's ``params=``, clickhouse-driver's server-side parameters.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

QUERY_DIR = Path(__file__).resolve().parent
PARAM = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):(?P<type>[A-Za-z0-9_()' ,]+)\}")
DEFAULTS: dict[str, str] = {"threshold": "50"}
UINT_MAX = {"UInt8": 2**8 - 1, "UInt16": 2**16 - 1, "UInt32": 2**32 - 1, "UInt64": 2**64 - 1}
DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


class QueryError(Exception):
    """Bad input to a query (unknown name, missing or ill-typed parameter): one line."""


@dataclass(frozen=True)
class Query:
    name: str
    path: Path
    sql: str
    params: dict[str, str]  # name -> ClickHouse type, in order of first use
    header: str  # the leading comment, without the "-- "

    @property
    def summary(self) -> str:
        first = self.header.split("\n", 1)[0]
        return first.split(":", 1)[1].strip() if ":" in first else first


def parse(path: Path) -> Query:
    sql = path.read_text()
    params: dict[str, str] = {}
    for m in PARAM.finditer(_strip_comments(sql)):
        params.setdefault(m.group("name"), m.group("type"))
    header_lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        header_lines.append(line[2:].strip())
    return Query(path.stem, path, sql, params, "\n".join(header_lines))


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


@cache
def catalog() -> dict[str, Query]:
    """Every analysis file by name (the file stem)."""
    return {p.stem: parse(p) for p in sorted(QUERY_DIR.glob("*.sql"))}


def get(name: str) -> Query:
    queries = catalog()
    if name not in queries:
        raise QueryError(f"unknown query {name!r}; known: {', '.join(sorted(queries))}")
    return queries[name]


def convert(name: str, ch_type: str, raw: str | dt.datetime) -> Any:
    """A command-line value checked against its ClickHouse type; QueryError when it is not one."""
    if isinstance(raw, dt.datetime):
        if not ch_type.startswith("DateTime"):
            raise QueryError(f"parameter {name} must be a {ch_type}, got a time")
        return raw.strftime("%Y-%m-%d %H:%M:%S")
    if ch_type in UINT_MAX:
        if not re.fullmatch(r"\d+", raw.strip()) or int(raw) > UINT_MAX[ch_type]:
            raise QueryError(f"parameter {name} must be a {ch_type} (0..{UINT_MAX[ch_type]}), got {raw!r}")
        return int(raw)
    if ch_type.startswith("DateTime"):
        text = raw.strip().removesuffix("Z")
        for fmt in DATETIME_FORMATS:
            try:
                return dt.datetime.strptime(text, fmt).strftime("%Y-%m-%d %H:%M:%S")
            except ValueError:
                continue
        raise QueryError(f"parameter {name} must be a DateTime like 2026-01-01T05:00:00, got {raw!r}")
    if ch_type == "String":
        return raw
    raise QueryError(f"parameter {name} has a type this tool does not check: {ch_type}")


def bind(query: Query, given: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of ``query`` from ``given`` (strings) and the defaults, checked."""
    unknown = sorted(set(given) - set(query.params))
    if unknown:
        known = ", ".join(f"{k}:{t}" for k, t in query.params.items()) or "none"
        raise QueryError(f"query {query.name} has no parameter {unknown[0]!r} (it takes: {known})")
    out: dict[str, Any] = {}
    for name, ch_type in query.params.items():
        raw = given.get(name, DEFAULTS.get(name))
        if raw is None:
            raise QueryError(f"query {query.name} needs --param {name}=<{ch_type}>")
        out[name] = convert(name, ch_type, raw if isinstance(raw, str | dt.datetime) else str(raw))
    return out


def parse_params(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``k=v`` strings from the command line."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise QueryError(f"--param takes name=value, got {pair!r}")
        out[key.strip()] = value
    return out
