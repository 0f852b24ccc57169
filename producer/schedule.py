"""Schedules: a nightly full scan of the configured zone files and an hourly re-scan of the MX hosts
that had TLSA records in the latest snapshot (TLSA, DNSSEC and STARTTLS again).

The decisions are pure functions of the clock and of what ran last (``due_jobs``), and of the
latest snapshot (``dane_hosts_sql``); ``run_scheduler`` is the small loop around them that
keeps its memory in Redis, so a restarted scheduler does not start a scan twice (the scan ids are
derived from the time, and enqueueing a scan id again publishes nothing).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    kind: str  # nightly | hourly
    scan_id: str


def parse_clock(text: str) -> dt.time:
    """'HH:MM' (UTC) -> time; ValueError with the text otherwise."""
    try:
        hours, minutes = text.split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"not a HH:MM time: {text!r}") from None


def nightly_id(day: dt.date) -> str:
    return f"nightly-{day:%Y%m%d}"


def hourly_id(hour: dt.datetime) -> str:
    return f"hourly-{hour:%Y%m%dT%H}"


def due_jobs(now: dt.datetime, last_nightly: str | None, last_hourly: str | None,
             nightly_at: dt.time, hourly_minute: int, has_zone_files: bool) -> list[Job]:
    """The scans to start at ``now`` (UTC), given the ids of the last ones started.

    The nightly scan of a day is due from ``nightly_at`` on; the hourly re-scan of an hour from
    ``hourly_minute`` past it. A missed slot is run once when the scheduler is back, never twice.
    """
    jobs: list[Job] = []
    if has_zone_files and now.time() >= nightly_at:
        job = Job("nightly", nightly_id(now.date()))
        if job.scan_id != last_nightly:
            jobs.append(job)
    if now.minute >= hourly_minute:
        job = Job("hourly", hourly_id(now))
        if job.scan_id != last_hourly:
            jobs.append(job)
    return jobs


LATEST_SNAPSHOT = ("SELECT scan_id FROM scans FINAL WHERE status LIKE 'finished%' "
                   "ORDER BY started_at DESC, scan_id DESC LIMIT 1")


def dane_hosts_sql(scan_id: str) -> str:
    """The DANE MX hosts (with a TLSA RRset) of one scan: the hourly re-scan's host tasks."""
    from workers.store.backend import sql_string

    return f"SELECT DISTINCT mx_host FROM tlsa_records WHERE scan_id = {sql_string(scan_id)}"


def run_scheduler(tick: Callable[[dt.datetime], object], stop: Callable[[], bool],
                  every: float = 20.0) -> None:
    while not stop():
        tick(dt.datetime.now(dt.UTC))
        time.sleep(every)
