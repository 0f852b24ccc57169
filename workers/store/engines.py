"""The one place that holds table engine clauses.

Migrations never spell an engine. They write placeholders that a profile fills:

* ``{{engine:replacing(version)}}``: a ReplacingMergeTree versioned by the ``version`` column;
* ``{{engine:mergetree}}``: a plain MergeTree;
* ``{{engine:aggregating}}``: an AggregatingMergeTree (merges rows of equal key through their
  SimpleAggregateFunction columns);
* ``{{on_cluster}}``: empty on one server, ``ON CLUSTER name`` on a cluster.

The ``single`` profile (chdb and one clickhouse-server) gives the plain engines. The ``replicated``
profile gives Replicated* engines with the usual ``{shard}``/``{replica}`` server macros and, after
each ``CREATE TABLE x``, a ``Distributed`` table ``x_all`` over the shards. Analysis SQL stays valid
on either table, as it uses only what a Distributed table supports.

Placeholders use double braces so that ClickHouse's own single-brace macros pass through untouched.
The checksum of a migration is taken on the file as written, before a profile fills it, so switching
profiles never looks like an edited migration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDER = re.compile(
    r"(?P<lead>[ \t]*)\{\{\s*(?:engine:(?P<kind>\w+)(?:\((?P<args>[^)]*)\))?|(?P<on>on_cluster))\s*\}\}"
)
CREATE_TABLE = re.compile(
    r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<table>[A-Za-z_][A-Za-z0-9_]*)", re.I
)


# Rows with equal sorting keys must land on the same shard, or FINAL cannot collapse them: the
# Distributed table shards by a hash of the ORDER BY key.
ORDER_BY = re.compile(r"\bORDER\s+BY\s+(?P<key>.+?)\s*(?:SETTINGS\b.*)?$", re.I | re.S)


class EngineError(ValueError):
    """A migration asks for an engine kind that the profile does not know."""


def _args(raw: str | None) -> list[str]:
    return [a.strip() for a in (raw or "").split(",") if a.strip()]


def _single(kind: str, args: list[str], table: str) -> str:
    if kind == "replacing":
        return f"ReplacingMergeTree({', '.join(args)})"
    if kind == "mergetree":
        return "MergeTree()"
    if kind == "aggregating":
        return "AggregatingMergeTree()"
    raise EngineError(f"unknown engine kind {kind!r} for table {table}")


def _replicated(kind: str, args: list[str], table: str) -> str:
    zk = f"'/clickhouse/tables/{{shard}}/{{database}}/{table}', '{{replica}}'"
    if kind == "replacing":
        return f"ReplicatedReplacingMergeTree({', '.join([zk, *args])})"
    if kind == "mergetree":
        return f"ReplicatedMergeTree({zk})"
    if kind == "aggregating":
        return f"ReplicatedAggregatingMergeTree({zk})"
    raise EngineError(f"unknown engine kind {kind!r} for table {table}")


@dataclass(frozen=True)
class EngineProfile:
    """How placeholders become engine clauses on one kind of deployment."""

    name: str
    engine: Callable[[str, list[str], str], str]
    cluster: str = ""
    distributed: bool = False

    def render(self, statement: str) -> list[str]:
        """Fill the placeholders of one statement; a cluster profile may add statements after it."""
        match = CREATE_TABLE.match(statement)
        table = match.group("table") if match else ""

        def fill(m: re.Match[str]) -> str:
            if m.group("on"):  # with no cluster, the placeholder and the space before it vanish
                return f"{m.group('lead')}ON CLUSTER {self.cluster}" if self.cluster else ""
            return m.group("lead") + self.engine(m.group("kind"), _args(m.group("args")), table)

        out = [PLACEHOLDER.sub(fill, statement)]
        if self.distributed and match and "{{engine:" in statement:
            on = f" ON CLUSTER {self.cluster}" if self.cluster else ""
            order = ORDER_BY.search(statement)
            key = order.group("key").strip().strip("()") if order else "rand()"
            out.append(
                f"CREATE TABLE IF NOT EXISTS {table}_all{on} AS {table} "
                f"ENGINE = Distributed({self.cluster}, currentDatabase(), {table}, cityHash64({key}))"
            )
        return out


SINGLE = EngineProfile(name="single", engine=_single)


def replicated(cluster: str) -> EngineProfile:
    """The cluster profile: Replicated* engines plus a Distributed ``<table>_all`` per table."""
    return EngineProfile(name="replicated", engine=_replicated, cluster=cluster, distributed=True)


def profile(name: str) -> EngineProfile:
    """``single`` or ``replicated:<cluster name>``."""
    if name == "single":
        return SINGLE
    kind, _, cluster = name.partition(":")
    if kind == "replicated" and cluster:
        return replicated(cluster)
    raise EngineError(f"unknown engine profile {name!r}: use 'single' or 'replicated:<cluster>'")
