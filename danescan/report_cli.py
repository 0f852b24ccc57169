"""``danescan query NAME`` runs one analysis file; ``danescan report`` runs them all."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from danescan.errors import fail
from danescan.report.render import render
from producer.printable import printable
from queries.catalog import QueryError, catalog, get, parse_params
from workers.store.backend import StoreError

DB_DEFAULT = "./danescan-data"
FORMATS = click.Choice(["table", "csv", "json"])
QUERY_FORMATS = click.Choice(["table", "csv", "tsv", "json", "jsonl"])
WHEN = click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"])



def _open(target: str):  # type: ignore[no-untyped-def]
    from queries.run import open_db

    return open_db(target, settings=True)  # read-only; the files may carry SETTINGS


def write_report(target: str, out: Path, threshold: int = 50) -> Path:
    """The report of the latest scan of ``target`` written to ``out`` (tables, figures and
    report.html, whose path is returned); QueryError or StoreError in one line."""
    from danescan.report.build import run_all, select, write

    db = _open(target)
    try:
        sel = select(db, None, None, None)
        results = run_all(db, sel, threshold)
    finally:
        db.close()
    write(results, out, sel, "table")
    return out / "report.html"


@click.command("query")
@click.argument("name", required=False)
@click.option("--param", "params", multiple=True, metavar="K=V", help="a query parameter")
@click.option("--db", "target", default=DB_DEFAULT, show_default=True,
              help="chdb directory or clickhouse://host:port/db")
@click.option("--format", "fmt", type=QUERY_FORMATS, default="table", show_default=True)
@click.option("--list", "list_only", is_flag=True, help="list the queries and their parameters")
def query(name: str | None, params: tuple[str, ...], target: str, fmt: str, list_only: bool) -> None:
    """Run one analysis file of queries/ (e.g. tld_deployment --param scan_id=ID)."""
    if list_only or name is None:
        for q in catalog().values():
            ps = " ".join(f"{k}:{t}" for k, t in q.params.items())
            click.echo(f"{q.name:34} {ps:50} {q.summary[:80]}")
        return
    from queries.run import check_scan, check_schema, execute

    try:
        q = get(name)
        given = parse_params(params)
        db = _open(target)
        try:
            check_schema(db)
            if "scan_id" in given:
                check_scan(db, given["scan_id"])
            result = execute(db, q, given)
        finally:
            db.close()
    except (QueryError, StoreError) as exc:
        fail(str(exc))
        return
    click.echo(render(result, fmt))


@click.command("report")
@click.option("--db", "target", default=DB_DEFAULT, show_default=True,
              help="chdb directory or clickhouse://host:port/db")
@click.option("--scan-id", default=None, help="the snapshot (default: the latest)")
@click.option("--since", type=WHEN, default=None, help="history from (UTC)")
@click.option("--until", type=WHEN, default=None, help="history until (UTC)")
@click.option("--threshold", type=click.IntRange(0, 2**32 - 1), default=50, show_default=True,
              help="SO/SSDO/SSDS: shared-IP and popular-domain threshold")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="also write the tables, PNG figures and report.html here")
def report(target: str, scan_id: str | None, since: dt.datetime | None, until: dt.datetime | None,
           threshold: int, fmt: str, out: Path | None) -> None:
    """Run every analysis (the paper's tables and figures) and print them."""
    from danescan.report.build import print_all, run_all, select, write

    utc = [t.replace(tzinfo=dt.UTC) if t else None for t in (since, until)]
    try:
        db = _open(target)
        try:
            sel = select(db, scan_id, utc[0], utc[1])
            results = run_all(db, sel, threshold)
        finally:
            db.close()
    except (QueryError, StoreError) as exc:
        fail(str(exc))
        return
    if fmt == "table":
        from danescan.report.headline import headlines, table1, text

        by_name = {r.name: r for r in results}
        click.echo(f"danescan report: {printable(sel.title(), 2000)}")
        click.echo(f"history: {printable(sel.history(), 2000)}\n")
        summary = text(headlines(by_name, len(sel.scans)), table1(by_name)).splitlines()
        click.echo("\n".join(printable(line, 2000) for line in summary) + "\n")
    elif not sel.status.startswith("finished"):  # keep CSV/JSON clean: the state on stderr
        click.echo(f"danescan: report of {printable(sel.title(), 2000)}", err=True)
    click.echo(print_all(results, fmt))
    if out is not None:
        written = write(results, out, sel, fmt)
        click.echo(f"wrote {len(written)} files to {out} (open {out / 'report.html'})", err=True)
