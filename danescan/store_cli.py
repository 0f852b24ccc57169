"""``danescan migrate``: apply, list, dry-run or roll back the numbered schema migrations."""

from __future__ import annotations

from pathlib import Path

import click

from danescan.errors import fail
from workers.settings import Settings


@click.command("migrate")
@click.option(
    "--db", "target", default=None, help="chdb directory or clickhouse://host:port/db [DANESCAN_DB]"
)
@click.option("--dry-run", is_flag=True, help="Print the statements that would run; write nothing.")
@click.option(
    "--list", "list_only", is_flag=True, help="List migrations and their state; write nothing."
)
@click.option(
    "--rollback",
    type=int,
    default=0,
    metavar="N",
    help="Run the down files of the last N migrations.",
)
@click.option(
    "--engines",
    "engine_profile",
    default="single",
    show_default=True,
    help="Engine profile: single, or replicated:<cluster> (Replicated* + Distributed).",
)
@click.option(
    "--migrations-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    hidden=True,
)
def migrate(
    target: str | None,
    dry_run: bool,
    list_only: bool,
    rollback: int,
    engine_profile: str,
    migrations_dir: Path | None,
) -> None:
    """Bring the ClickHouse schema up to date (refuses if an applied migration's file changed)."""
    from workers.store.backend import StoreError, connect, parse_target
    from workers.store.engines import EngineError, profile
    from workers.store.migrations import MIGRATIONS_DIR, MigrationError, Migrator, discover

    target = Settings.from_env().db if target is None else target
    db = None
    try:
        engines = profile(engine_profile)
        migrations = discover(migrations_dir or MIGRATIONS_DIR)
        kind, where, _, _ = parse_target(target)
        # A dry run or a listing against a chdb directory that does not exist yet must not create it.
        read_only = dry_run or list_only
        if not (read_only and kind == "chdb" and not Path(where).exists()):
            db = connect(target)
        migrator = Migrator(db, migrations, engines)
        if list_only:
            for s in migrator.status():
                click.echo(f"{s.version:04d}  {s.state:<12}  {s.name}")
            migrator.check()
        elif dry_run and rollback:
            for version in sorted(migrator.applied(), reverse=True)[:rollback]:
                click.echo(f"-- would roll back {version:04d}")
        elif dry_run:
            for migration, statements in migrator.plan():
                click.echo(f"-- {migration.label}")
                for statement in statements:
                    click.echo(f"{statement};\n")
        elif rollback:
            for m in migrator.rollback(rollback):
                click.echo(f"rolled back {m.label}", err=True)
        else:
            done = migrator.apply()
            for m in done:
                click.echo(f"applied {m.label}", err=True)
            click.echo(f"{target}: {len(done)} migration(s) applied, schema up to date", err=True)
    except (StoreError, MigrationError, EngineError) as exc:
        fail(str(exc))
    finally:
        if db is not None:
            db.close()
