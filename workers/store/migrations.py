"""Numbered SQL migrations: discover, check, plan, apply, roll back.

Files live in ``queries/migrations`` as ``NNNN_name.sql`` with an optional ``NNNN_name.down.sql``.
Applied versions are recorded in ``schema_migrations`` with the SHA-256 of the file as written; a
migration whose file changed after it was applied stops everything with a clear error (write a new
migration instead). Statements are written to be re-runnable (``IF NOT EXISTS``), because ClickHouse
has no transactional DDL: a migration interrupted half-way is simply applied again.

A migration whose header says ``-- requires: ClickHouse X.Y`` (parameterized views need 23.1) is
left pending on an older clickhouse-server (Debian's is 18.16): what it creates is absent there,
it is applied once the server is upgraded, and the status says what it waits for. chdb is new.
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from workers.store.backend import Database, DriverDatabase
from workers.store.engines import SINGLE, EngineProfile

# the schema is SQL, kept with the other SQL in the queries package (read as data, not imported)
MIGRATIONS_DIR = Path(str(files("queries").joinpath("migrations")))
REQUIRES = re.compile(r"^--\s*requires:\s*ClickHouse\s+(?P<major>\d+)\.(?P<minor>\d+)\s*$",
                      re.M | re.I)
FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?P<down>\.down)?\.sql$")
TABLE = "schema_migrations"
TABLE_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} {{{{on_cluster}}}} (
    version     UInt32,
    name        String,
    checksum    String,
    applied     UInt8,
    applied_at  DateTime('UTC'),
    worker_host String,
    row_version UInt64
) ENGINE = {{{{engine:replacing(row_version)}}}}
ORDER BY version"""


class MigrationError(Exception):
    """Migrations cannot run as asked; the message is one line."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str | None
    checksum: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def requires(self) -> tuple[int, int] | None:
        """The oldest ClickHouse version the migration runs on, from its header; None: any."""
        m = REQUIRES.search(self.up)
        return (int(m.group("major")), int(m.group("minor"))) if m else None


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    checksum: str


@dataclass(frozen=True)
class Status:
    version: int
    name: str
    state: str  # applied | pending | changed | missing-file | needs-clickhouse-X.Y


def server_version(db: Database | None) -> tuple[int, int] | None:
    """(major, minor) of a clickhouse-server; None for chdb (always new) or no database."""
    if not isinstance(db, DriverDatabase):
        return None
    parts = [*db.server_version.split("."), "0", "0"][:2]
    return (int(parts[0]), int(parts[1])) if all(p.isdigit() for p in parts) else None


def too_old(migration: Migration, version: tuple[int, int] | None) -> bool:
    """The server is older than the migration requires."""
    return migration.requires is not None and version is not None and version < migration.requires


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migrations in a directory, in version order; MigrationError for a malformed set."""
    ups: dict[int, tuple[str, str]] = {}
    downs: dict[int, tuple[str, str]] = {}
    for path in sorted(directory.glob("*.sql")):
        m = FILE_NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file name not NNNN_name.sql: {path}")
        version, name = int(m.group("version")), m.group("name")
        target = downs if m.group("down") else ups
        if version in target:
            raise MigrationError(f"two migrations numbered {version:04d} in {directory}")
        target[version] = (name, path.read_text(encoding="utf-8"))
    for version, (name, _) in downs.items():
        if ups.get(version, ("",))[0] != name:
            raise MigrationError(
                f"down migration {version:04d}_{name}.down.sql has no matching up migration"
            )
    return [
        Migration(v, name, text, downs[v][1] if v in downs else None, checksum(text))
        for v, (name, text) in sorted(ups.items())
    ]


def split_statements(sql: str) -> list[str]:
    """Statements of a SQL file, comments removed, split on ``;`` outside quotes and comments."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "/" and sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            buf.append(" ")
            continue
        if c in "'\"`":
            j = i + 1
            while j < n and sql[j] != c:
                j += 2 if sql[j] == "\\" else 1
            buf.append(sql[i : j + 1])
            i = j + 1
            continue
        if c == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    out.append("".join(buf))
    cleaned = (
        "\n".join(line.rstrip() for line in s.strip().splitlines() if line.strip()) for s in out
    )
    return [s for s in cleaned if s]


def render(sql: str, profile: EngineProfile = SINGLE) -> list[str]:
    """The statements of a migration with the profile's engine clauses filled in."""
    return [r for statement in split_statements(sql) for r in profile.render(statement)]


class Migrator:
    """Applies migrations to one database. ``db`` may be None for a plan against nothing yet."""

    def __init__(
        self,
        db: Database | None,
        migrations: list[Migration] | None = None,
        profile: EngineProfile = SINGLE,
    ) -> None:
        self.db = db
        self.migrations = discover() if migrations is None else migrations
        self.profile = profile

    def applied(self) -> dict[int, Applied]:
        if self.db is None or not self.db.table_exists(TABLE):
            return {}
        rows = self.db.query(
            f"SELECT version, name, checksum, applied FROM {TABLE} FINAL ORDER BY version"
        )
        return {int(r[0]): Applied(int(r[0]), str(r[1]), str(r[2])) for r in rows if int(r[3])}

    def status(self) -> list[Status]:
        applied = self.applied()
        known = {m.version: m for m in self.migrations}
        out: list[Status] = []
        for version in sorted(set(applied) | set(known)):
            m, a = known.get(version), applied.get(version)
            if m is None and a is not None:
                out.append(Status(version, a.name, "missing-file"))
            elif m is not None and a is None:
                needs = m.requires
                waiting = f"needs-clickhouse-{needs[0]}.{needs[1]}" if needs else ""
                out.append(Status(version, m.name,
                                  waiting if too_old(m, server_version(self.db)) else "pending"))
            elif m is not None and a is not None:
                out.append(
                    Status(version, m.name, "applied" if a.checksum == m.checksum else "changed")
                )
        return out

    def check(self) -> None:
        """MigrationError if an applied migration's file changed or disappeared."""
        for s in self.status():
            if s.state == "changed":
                raise MigrationError(
                    f"migration {s.version:04d}_{s.name} changed after it was applied to {self._where()}: "
                    "restore the file and add a new migration instead"
                )
            if s.state == "missing-file":
                raise MigrationError(
                    f"migration {s.version:04d}_{s.name} is applied to {self._where()} but its file is missing"
                )

    def pending(self) -> list[Migration]:
        self.check()
        done = self.applied()
        return [m for m in self.migrations if m.version not in done]

    def plan(self) -> list[tuple[Migration, list[str]]]:
        """Pending migrations with the statements that would run; writes nothing. Those the
        server is too old for are left out (they stay pending)."""
        version = server_version(self.db)
        return [(m, render(m.up, self.profile)) for m in self.pending() if not too_old(m, version)]

    def apply(self) -> list[Migration]:
        """Apply every pending migration in order; returns those applied."""
        db = self._require_db()
        plan = self.plan()
        if not plan:
            return []
        if isinstance(db, DriverDatabase):
            db.create_database()
        for statement in render(TABLE_DDL, self.profile):
            db.execute(statement)
        done: list[Migration] = []
        for migration, statements in plan:
            for index, statement in enumerate(statements, 1):
                try:
                    db.execute(statement)
                except Exception as exc:
                    raise MigrationError(
                        f"migration {migration.label} statement {index} failed on {db.target}: {exc}"
                    ) from exc
            self._record(migration, applied=True)
            done.append(migration)
        return done

    def rollback(self, steps: int = 1) -> list[Migration]:
        """Run the down files of the last ``steps`` applied migrations, newest first."""
        db = self._require_db()
        self.check()
        done = self.applied()
        known = {m.version: m for m in self.migrations}
        undone: list[Migration] = []
        for version in sorted(done, reverse=True)[:steps]:
            migration = known[version]
            if migration.down is None:
                raise MigrationError(
                    f"migration {migration.label} has no .down.sql: cannot roll back"
                )
            for statement in render(migration.down, self.profile):
                db.execute(statement)
            self._record(migration, applied=False)
            undone.append(migration)
        return undone

    def _record(self, migration: Migration, applied: bool) -> None:
        db = self._require_db()
        now = time.time()
        db.insert(
            TABLE,
            ["version", "name", "checksum", "applied", "applied_at", "worker_host", "row_version"],
            ["UInt32", "String", "String", "UInt8", "DateTime('UTC')", "String", "UInt64"],
            [
                [migration.version],
                [migration.name],
                [migration.checksum],
                [int(applied)],
                [int(now)],
                [socket.gethostname()],
                [time.time_ns()],
            ],
        )

    def _require_db(self) -> Database:
        if self.db is None:
            raise MigrationError("no database to apply migrations to")
        return self.db

    def _where(self) -> str:
        return self.db.target if self.db is not None else "(no database)"
