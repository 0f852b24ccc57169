"""``danescan watch DOMAIN...``: ``check`` every interval, and say when DANE breaks and before it
breaks (issue 15).

Each round checks every domain (``danescan check``'s code) and prints one line per domain:

    <time> <domain> <state>: <what>

``state`` is ``ok`` (DANE valid, or not deployed), ``warning`` (valid now, but a renewal of the
certificates it rests on, expiring within --warn-days, will break it: workers/dane/expiry.py),
``broken`` (DANE fails: the published RRset no longer covers the presented chain, DNSSEC fails,
no STARTTLS, ...) or ``error`` (the domain could not be checked). The watch remembers the
certificates each host presented in earlier rounds, so a record that still names the previous key
is reported as such (``matches-old-certificate``) and is not taken for a next key.

With --webhook, the JSON of the round's report is POSTed when a domain's state changes to
anything but ``ok`` and when it recovers (the first round counts as a change from nothing): one
POST per change, not one per round.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import re
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from enum import StrEnum
from typing import Any

import click

from danescan.check_cli import Checker, checker_for, options
from danescan.errors import fail
from danescan.options import probe_options
from workers.dane.expiry import WARN_DAYS
from workers.scan.check import DomainReport, Memory, Status

EXIT_BROKEN = 1
EXIT_ERROR = 2
EXIT_WARNING = 3


class State(StrEnum):
    OK = "ok"
    WARNING = "warning"
    BROKEN = "broken"
    ERROR = "error"



_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_INTERVAL = 366 * 86400


def parse_interval(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``1h30m``, ``1d`` -> seconds; ValueError otherwise."""
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise ValueError(f"{text!r} is not an interval (e.g. 90s, 15m, 1h, 1h30m, 1d)")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < 1:
        raise ValueError(f"{text!r}: the interval must be at least one second")
    if seconds > MAX_INTERVAL:  # also keeps time.sleep from overflowing (inf, 1e20 s)
        raise ValueError(f"{text!r}: the interval must be at most 366 days")
    return seconds


def state_of(report: DomainReport) -> State:
    if report.status is Status.ERROR:
        return State.ERROR
    if report.status is Status.FAILED:
        return State.BROKEN
    return State.WARNING if report.warnings else State.OK


def describe(report: DomainReport, state: State, previous: State | None) -> str:
    """The words after ``<domain> <state>:`` in the log line."""
    if state is State.ERROR:
        return report.error
    if state is State.BROKEN:
        head = "DANE broke" if previous in (State.OK, State.WARNING) else "DANE fails"
        more = len(report.problems) - 1
        also = f" (and {more} more: see check)" if more > 0 else ""
        return f"{head}: {report.problems[0] if report.problems else 'see check'}{also}"
    if state is State.WARNING:
        return f"DANE valid, but {report.warnings[0]}"
    what = "DANE valid" if report.status is Status.VALID else "DANE not deployed"
    again = " again" if previous in (State.BROKEN, State.ERROR) else ""
    return f"{what}{again} ({len(report.hosts)} MX host{'s' if len(report.hosts) != 1 else ''})"


def should_post(state: State, previous: State | None) -> bool:
    """A change to anything but ok, or a recovery to ok."""
    if state is previous:
        return False
    return state is not State.OK or previous is not None


def webhook_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (one line naming it), or None: an http(s) URL with a host
    and, if given, a port in range."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        return f"--webhook {url!r}: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        return f"--webhook {url!r}: not an http:// or https:// URL with a host"
    if any(c.isspace() for c in url):
        return f"--webhook {url!r}: white space in the URL"
    return None


def post(url: str, payload: dict[str, Any], timeout: float = 10.0) -> str | None:
    """POST ``payload`` as JSON; the problem in one line, or None when the server took it.

    ``timeout`` bounds the whole exchange, not each read: a server that trickles its answer a
    byte at a time (each read well within a per-read timeout) would otherwise hold the watch."""
    problem = webhook_problem(url)
    if problem:
        return problem
    data = json.dumps(payload, sort_keys=True).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "User-Agent": "danescan-watch"})
    answer: list[str | None] = []
    sockets: list[socket.socket] = []

    def exchange() -> None:
        answer.append(_exchange(req, timeout, sockets))

    worker = threading.Thread(target=exchange, name="webhook", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        for sock in sockets:  # wakes the blocked read; the thread then ends
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        worker.join(1.0)
        return f"no answer within {timeout:g} s"
    return answer[0] if answer else "no answer"


def _exchange(req: urllib.request.Request, timeout: float,
              sockets: list[socket.socket]) -> str | None:
    opener = urllib.request.build_opener(_Keep(sockets), _KeepTls(sockets))
    try:
        with opener.open(req, timeout=timeout) as resp:  # an http(s) URL (checked)
            if not 200 <= resp.status < 300:
                return f"answered HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        return str(getattr(exc, "reason", exc)) or type(exc).__name__
    return None


class _Keep(urllib.request.HTTPHandler):
    """The HTTP handler, noting each connection's socket so that :func:`post` can end it."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        super().__init__()
        self.sockets = sockets

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(http.client.HTTPConnection, self.sockets), req)


class _KeepTls(urllib.request.HTTPSHandler):
    def __init__(self, sockets: list[socket.socket]) -> None:
        self.tls = ssl.create_default_context()  # certificates verified, as urlopen does
        super().__init__(context=self.tls)
        self.sockets = sockets

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(http.client.HTTPSConnection, self.sockets), req,
                            context=self.tls)


def _connection(base: type[http.client.HTTPConnection], sockets: list[socket.socket]
                ) -> Any:
    class Noted(base):  # type: ignore[valid-type,misc]
        def connect(self) -> None:
            super().connect()
            sockets.append(self.sock)

    return Noted


def round_once(domains: tuple[str, ...], check: Checker, memory: Memory, seen: dict[str, State],
               warn_days: int, webhook: str | None, now: dt.datetime) -> list[State]:
    """Check every domain once: a log line each, the webhook on changes. Returns the states."""
    states = []
    for domain in domains:
        report = check(domain, now, memory.history, warn_days, memory.certificates)
        state = state_of(report)
        previous = seen.get(domain)
        click.echo(f"{now:%Y-%m-%dT%H:%M:%SZ} {domain} {state}: {describe(report, state, previous)}")
        if webhook and should_post(state, previous):
            payload = {"event": state.value, "previous": previous.value if previous else None,
                       "domain": domain, "time": now.isoformat(),
                       "line": describe(report, state, previous), "report": report.to_json()}
            problem = post(webhook, payload)
            if problem:
                click.echo(f"danescan: webhook {webhook}: {problem}", err=True)
        memory.remember(report)
        seen[domain] = state
        states.append(state)
    return states


def exit_code(states: list[State]) -> int:
    if State.BROKEN in states:
        return EXIT_BROKEN
    if State.ERROR in states:
        return EXIT_ERROR
    if State.WARNING in states:
        return EXIT_WARNING
    return 0


@click.command("watch")
@click.argument("domains", nargs=-1, required=True)
@probe_options("watch")
@click.option("--interval", default="1h", show_default=True,
              help="Time between rounds: 90s, 15m, 1h, 1d ...")
@click.option("--warn-days", default=WARN_DAYS, show_default=True, type=click.IntRange(0, 36500),
              help="Warn when the certificates DANE rests on expire within this many days and "
                   "no TLSA record for a next key or CA is published.")
@click.option("--webhook", default=None,
              help="http(s) URL: the report is POSTed as JSON when a domain's state changes.")
@click.option("--once", is_flag=True, help="One round, then exit with the status below.")
@click.option("--port", default=25, show_default=True, type=click.IntRange(1, 65535),
              help="Port probed (the TLSA records are always those at _25._tcp).")
def watch(domains: tuple[str, ...], interval: str, warn_days: int, webhook: str | None,
          once: bool, resolver: str | None, trust_anchor: str | None, port: int,
          public_roots: str | None, ehlo_name: str | None, contact: str | None) -> None:
    """Check domains repeatedly; report when DANE breaks, and before it breaks.

    \b
    One line per domain per round: TIME DOMAIN STATE: WHAT, where STATE is
      ok       DANE valid, or not deployed
      warning  valid, but every certificate the TLSA records pin (the leaf
               for 3 x x, a CA for 2 x x) expires within --warn-days and no
               record for a next key or CA is published (a renewal with a
               new key, or under another intermediate, will break DANE)
      broken   DANE fails (e.g. the published TLSA records no longer cover
               the presented chain); WHAT says what to publish or change
      error    the domain could not be checked (NXDOMAIN, no MX, ...)

    \b
    Exit status with --once: 1 if any domain is broken, else 2 if any could not
    be checked, else 3 if any has a warning, else 0. Without --once it runs
    until interrupted. Bad options, an unreachable or non-validating resolver:
    one line on stderr, exit 2.
    """
    try:
        seconds = parse_interval(interval)
    except ValueError as exc:
        fail(str(exc))
    if webhook is not None:
        problem = webhook_problem(webhook)
        if problem:
            fail(problem)
    check = checker_for(domains, options(resolver, trust_anchor, port, public_roots, ehlo_name,
                                         contact))
    memory = Memory()
    seen: dict[str, State] = {}
    try:
        while True:
            started = time.monotonic()
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            states = round_once(domains, check, memory, seen, warn_days, webhook, now)
            sys.stdout.flush()
            if once:
                sys.exit(exit_code(states))
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    except KeyboardInterrupt:
        sys.exit(0)
