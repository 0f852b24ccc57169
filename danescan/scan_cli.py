"""``danescan scan`` and ``danescan demo``: the main job on one machine."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from danescan.errors import fail
from danescan.options import probe_options
from danescan.startchecks import ROOT_ANCHORS
from producer.zonetypes import ParserOptions
from workers.settings import Settings
from workers.store.backend import Database

EXIT_DAMAGED = 3  # an input was damaged: what could be read was scanned, the scan is incomplete



def system_resolver() -> str:
    """The first nameserver of /etc/resolv.conf (it must validate DNSSEC and set AD)."""
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1]
    except OSError:
        pass
    return "127.0.0.1"


def open_db(target: str) -> Database:
    """Connect and bring the schema up to date; one-line errors."""
    from workers.store.backend import StoreError, connect
    from workers.store.engines import profile
    from workers.store.migrations import MigrationError, Migrator, discover

    try:
        db = connect(target)
        Migrator(db, discover(), profile("single")).apply()
    except (StoreError, MigrationError) as exc:
        fail(str(exc))
    return db


def do_scan(inputs: tuple[str, ...], resolver: str, trust_anchor: str, target: str, scan_id: str,
            batch: int, probe_all: bool, kind: str, public_roots: str | None,
            scan_time: dt.datetime | None, progress: bool, ehlo_name: str = "danescan.invalid",
            contact: str = "", exclude: str = "") -> str:
    from danescan import startchecks
    from danescan.embedded import ScanOptions, run_scan
    from danescan.summary import render, summarize
    from producer.inputs import InputError
    from producer.printable import printable

    for path in inputs:
        if not Path(path).exists():
            fail(f"{printable(path, 300)}: no such file")
        if not os.access(path, os.R_OK) or Path(path).is_dir():
            fail(f"{printable(path, 300)}: not a readable file")
    if not Path(trust_anchor).is_file():
        fail(f"{printable(trust_anchor, 300)}: trust anchor file not found")
    exclusions = startchecks.exclusions(exclude)  # a list that cannot be read: refuse to start
    if isinstance(exclusions, str):
        fail(exclusions)
    problem = (startchecks.identity(ehlo_name, contact, resolver, trust_anchor)
               or startchecks.resolver(Settings.from_env(), resolver))
    if problem:
        fail(problem)
    db = open_db(target)
    try:
        click.echo(f"scan {scan_id}: {len(inputs)} input(s) -> {target}", err=True)
        opts = ScanOptions(scan_id=scan_id, resolver=resolver, trust_anchor=trust_anchor,
                           batch_size=batch, probe_all=probe_all, kind=kind,
                           public_roots=public_roots, now=scan_time, progress=progress,
                           progress_tty=sys.stderr.isatty(), ehlo_name=ehlo_name, contact=contact,
                           exclusions=exclusions)
        try:
            facts = run_scan(db, list(inputs), opts)
        except InputError as exc:
            fail(str(exc))
            return ""
        except KeyboardInterrupt:
            fail(f"interrupted; run again with --scan-id {scan_id} to resume")
            return ""
        if facts["malformed"]:
            click.echo(f"{facts['malformed']} malformed input line(s) skipped, e.g.:", err=True)
            for ex in facts["malformed_examples"][:12]:
                click.echo(f"  {ex}", err=True)
        if facts["ns_cut"]:
            click.echo(f"{facts['ns_cut']} NS record(s) skipped: a delegation keeps its first "
                       f"{ParserOptions().max_ns} name servers", err=True)
        if facts["resumed"]:
            click.echo(f"{facts['resumed']} domain(s) were already stored in scan {scan_id}",
                       err=True)
        click.echo(render(summarize(db, scan_id)))
    finally:
        db.close()  # the server's connections too (no socket left for the interpreter to close)
    if facts["damage"]:
        for damage in facts["damage"]:
            click.echo(f"danescan: {damage.text}; the {damage.domains:,} domain(s) read from it "
                       f"were scanned; scan {scan_id} is recorded as incomplete", err=True)
        sys.exit(EXIT_DAMAGED)
    return scan_id


@click.command("scan")
@click.argument("inputs", nargs=-1, required=True)
@probe_options("scan")
@click.option("--db", "target", default=None,
              help="chdb directory or clickhouse://host:port/db [DANESCAN_DB].")
@click.option("--scan-id", default=None, help="Re-use to resume an interrupted scan.")
@click.option("--batch", default=1000, show_default=True, help="Domains per batch.")
@click.option("--probe-all", is_flag=True, help="STARTTLS-probe MX hosts without TLSA too.")
@click.option("--kind", default="adhoc", type=click.Choice(["adhoc", "nightly", "hourly"]))
@click.option("--scan-time", default=None, type=click.DateTime(["%Y-%m-%dT%H:%M:%S"]),
              help="The scan's nominal time, UTC (default: now).")
@click.option("--no-progress", is_flag=True,
              help="No progress on stderr (default: a bar on a terminal, log lines otherwise).")
@click.option("--exclude", default=None,
              help="Exclusion list: address ranges and domain suffixes never queried nor "
                   "connected to, one a line, # comments [DANESCAN_EXCLUDE].")
def scan(inputs: tuple[str, ...], resolver: str | None, trust_anchor: str | None,
         target: str | None, scan_id: str | None, batch: int, probe_all: bool, kind: str,
         public_roots: str | None, scan_time: dt.datetime | None, no_progress: bool,
         ehlo_name: str | None, contact: str | None, exclude: str | None) -> None:
    """Scan zone files (plain or gzip) or domain lists: DNS, STARTTLS, DANE verdicts into ClickHouse.

    \b
    Exit status:
      0  every input was read and scanned
      2  the scan could not start or go on (bad option, missing input, database
         unreachable, interrupted): one line on stderr
      3  an input is damaged (a gzip file cut short or corrupt, NUL bytes, ...):
         the domains read before the damage were scanned and stored, one line per
         damaged input on stderr names it, how far it was read and what was wrong,
         and the scan is recorded as incomplete; run it again with the same
         --scan-id once the file is repaired to scan the rest

    Before anything is scanned: the resolver must set the AD bit on a signed name
    (the root's SOA), and a scan beyond loopback needs a real --ehlo-name and a
    --contact (the defaults are only for the lab).
    """
    settings = Settings.from_env()
    when = scan_time.replace(tzinfo=dt.UTC) if scan_time else None
    do_scan(inputs, resolver or settings.resolver or system_resolver(),
            trust_anchor or settings.trust_anchor or str(ROOT_ANCHORS), target or settings.db,
            scan_id or f"{kind}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}", batch, probe_all, kind,
            public_roots, when, not no_progress, ehlo_name or settings.ehlo_name,
            settings.contact if contact is None else contact,
            settings.exclude if exclude is None else exclude)


def ensure_lab_packages() -> None:
    from lab.servers import missing_tools

    if not missing_tools():  # the lab's own list: knot came with the rollover scenarios
        return
    installer = Path(__file__).resolve().parent.parent / "lab" / "install-packages.sh"
    if os.geteuid() != 0:
        fail("the lab needs Debian packages nsd, unbound, bind9-utils and ldnsutils; as root "
              f"run: bash {installer}")
    click.echo("installing the lab's Debian packages (nsd, unbound, bind9-utils, ldnsutils, ...)",
               err=True)
    if subprocess.run(["bash", str(installer)], check=False).returncode != 0:
        fail(f"installing the lab's packages failed; run: bash {installer}")


@click.command("demo")
@click.option("--domains", default=1000, show_default=True, help="Size of the lab.")
@click.option("--db", "target", default=None,
              help="Where the results go [default: a fresh chdb directory under /tmp].")
@click.option("--keep-lab", is_flag=True, help="Leave the lab running afterwards.")
def demo(domains: int, target: str | None, keep_lab: bool) -> None:
    """Start the loopback lab, scan its zone files, print the summary, stop the lab."""
    from lab import control
    from lab.servers import LabError

    ensure_lab_packages()
    workdir = Path(tempfile.mkdtemp(prefix="danescan-demo-"))
    target = target or str(workdir / "db")
    click.echo(f"starting a lab of {domains} domains in {workdir / 'lab'} ...", err=True)
    try:
        up = control.up(workdir / "lab", domains, seed=1, slot=None)
    except LabError as exc:
        fail(str(exc))
        return
    try:
        click.echo(f"lab up in {up.seconds:.0f} s; scanning {', '.join(p.name for p in up.zone_files)}",
                   err=True)
        do_scan(tuple(str(p) for p in up.zone_files), up.resolver, str(up.trust_anchor), target,
                "demo", 1000, False, "adhoc", str(workdir / "lab" / "pki" / "public-roots.pem"),
                None, True)
        click.echo(f"\nresults: {target} (ask them anything with 'danescan sql --db {target}')")
        from danescan.report_cli import write_report
        from queries.catalog import QueryError
        from workers.store.backend import StoreError

        try:
            click.echo(f"report:  {write_report(target, workdir / 'report')} (open it in a browser)")
        except (QueryError, StoreError) as exc:
            fail(f"the report could not be written: {exc}")
    finally:
        if not keep_lab:
            control.down(workdir / "lab")
