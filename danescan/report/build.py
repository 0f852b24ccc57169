"""Run every analysis for one snapshot (and the history up to it) and write tables and figures."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from danescan.report import figures
from danescan.report.headline import headlines, table1
from danescan.report.html import page
from danescan.report.render import render, table, to_csv, to_json
from queries.catalog import QueryError, catalog
from queries.run import Result, check_scan, check_schema, execute
from workers.store.backend import Database

EPOCH = dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
FAR = dt.datetime(2105, 12, 31, tzinfo=dt.UTC)
ORDER = ("scans", "tld_deployment", "mx_domains_cdf", "management_validity", "management_classes",
         "registered_domain_disagreements", "dnssec_failure_reasons", "mismatch_reasons",
         "rollover_outcomes", "rollovers", "ca_reliance", "renewals", "first_deployments")


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Selection:
    scan_id: str
    since: dt.datetime
    until: dt.datetime
    status: str = "finished"  # of the scan: running | finished | incomplete | ...
    status_reason: str = ""  # why it is incomplete (its damaged inputs)
    scans: tuple[tuple[str, dt.datetime], ...] = ()  # the history's snapshots, oldest first
    window_given: bool = False  # --since/--until came from the user

    def title(self) -> str:
        """``scan ID`` with its state when it did not finish cleanly (``incomplete: <reason>``)."""
        state = self.status if not self.status.startswith("finished") else ""
        if state and self.status_reason:
            state = f"{state}: {self.status_reason}"
        return f"scan {self.scan_id}" + (f" ({state})" if state else "")

    @property
    def started_at(self) -> dt.datetime | None:
        return next((t for sid, t in reversed(self.scans) if sid == self.scan_id), None)

    def history(self) -> str:
        """The snapshots the history queries read, by id and time: ``3 scans, h2
        (2026-11-30T19:00:00Z) .. h4 (2026-11-30T21:00:00Z)``."""
        if not self.scans:
            return f"{stamp(self.since)} .. {stamp(self.until)}"
        (first, t0), (last, t1) = self.scans[0], self.scans[-1]
        n = len(self.scans)
        shown = (f"1 scan, {first} ({stamp(t0)})" if n == 1 else
                 f"{n} scans, {first} ({stamp(t0)}) .. {last} ({stamp(t1)})")
        if self.window_given:
            shown = f"{stamp(self.since)} .. {stamp(self.until)}: {shown}"
        return shown

    def heading(self) -> str:
        """The report's title: the snapshot with its time, and the history."""
        at = f" of {stamp(self.started_at)}" if self.started_at else ""
        return f"danescan report: {self.title()}{at}; history: {self.history()}"


def _time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(int(value), dt.UTC)


def select(db: Database, scan_id: str | None, since: dt.datetime | None,
           until: dt.datetime | None) -> Selection:
    """The snapshot the per-scan queries use and the time range of the history queries."""
    check_schema(db)
    rows = execute(db, "scans").records()
    if scan_id is not None:
        if since is not None or until is not None:
            raise QueryError("give either --scan-id or --since/--until, not both")
        check_scan(db, scan_id)
        row = next(r for r in rows if r["scan_id"] == scan_id)
        lo, hi, given = EPOCH, _time(row["started_at"]), False
    else:
        lo, hi, given = since or EPOCH, until or FAR, since is not None or until is not None
        if lo > hi:
            raise QueryError(f"--since {lo:%Y-%m-%dT%H:%M:%S} is after --until {hi:%Y-%m-%dT%H:%M:%S}")
    inside = sorted(((_time(r["started_at"]), str(r["scan_id"])), r) for r in rows
                    if lo <= _time(r["started_at"]) <= hi)
    if not inside:
        raise QueryError(f"no scan between {lo:%Y-%m-%dT%H:%M:%S} and {hi:%Y-%m-%dT%H:%M:%S}")
    scans = tuple((sid, t) for (t, sid), _ in inside)
    if not given:  # the history is exactly its snapshots: show their times, not 1970 .. 2105
        lo, hi = scans[0][1], scans[-1][1]
    row = next(r for (_, sid), r in inside if sid == scan_id) if scan_id else inside[-1][1]
    return Selection(str(row["scan_id"]), lo, hi, str(row["status"]), str(row["status_reason"]),
                     scans, given)


def run_all(db: Database, sel: Selection, threshold: int = 50) -> list[Result]:
    values = {"scan_id": sel.scan_id, "since": sel.since.strftime("%Y-%m-%d %H:%M:%S"),
              "until": sel.until.strftime("%Y-%m-%d %H:%M:%S"), "threshold": str(threshold)}
    names = [n for n in ORDER if n in catalog()] + sorted(set(catalog()) - set(ORDER))
    out = []
    for name in names:
        q = catalog()[name]
        out.append(execute(db, q, {k: v for k, v in values.items() if k in q.params}))
    return out


def print_all(results: list[Result], fmt: str, limit: int = 40) -> str:
    if fmt == "json":
        return json.dumps([to_json(r) for r in results], indent=1)
    if fmt == "csv":
        return "\n".join(f"# {r.name}\n{to_csv(r)}" for r in results)
    return "\n\n".join(f"== {r.name} ==\n{table(r, limit)}" for r in results)


def write(results: list[Result], out: Path, sel: Selection, fmt: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    by_name = {r.name: r for r in results}
    figs = [figures.cdf(by_name["mx_domains_cdf"], out / "mx_domains_cdf.png"),
            figures.validity_by_class(by_name["management_validity"], out / "validity_by_class.png"),
            figures.rollovers_over_time(by_name["rollovers"], out / "rollover_outcomes.png",
                                        len(sel.scans))]
    ext = {"json": "json", "csv": "csv"}.get(fmt, "txt")
    written = list(figs)
    for r in results:
        p = out / f"{r.name}.{ext}"
        p.write_text(render(r, fmt) + "\n")
        written.append(p)
    index = out / "report.html"
    index.write_text(page(sel.heading(), results, figs, headlines(by_name, len(sel.scans)),
                          len(sel.scans), table1(by_name)))
    written.append(index)
    return written
