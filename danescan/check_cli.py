"""``danescan check DOMAIN``: one domain's DANE, explained (issue 15).

The scan's pipeline on a list of one (workers.scan.check), the report printed for people or as
JSON. ``run_check`` is shared with ``danescan watch``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Protocol

import click

from danescan.errors import fail
from danescan.options import probe_options
from danescan.startchecks import ROOT_ANCHORS
from workers.scan.check import (
    EXIT_CANNOT_CHECK,
    EXIT_DANE_FAILS,
    AddressReport,
    DomainReport,
    HostReport,
    Status,
)
from workers.settings import Settings


def _fail(message: str) -> NoReturn:
    fail(message, EXIT_CANNOT_CHECK)


@dataclass(frozen=True)
class CheckOptions:
    resolver: str
    trust_anchor: str
    port: int = 25
    public_roots: str | None = None
    ehlo_name: str = "danescan.invalid"
    contact: str = ""


class CheckSetupError(Exception):
    """The check cannot start (resolver, trust anchor, identity): one line."""


History = Callable[[Sequence[str]], Mapping[str, Sequence[bytes]]]


class Checker(Protocol):
    """Checks one domain at ``now``; ``history``/``earlier``: certificates hosts presented
    before (watch), ``warn_days``: add the renewal risk."""

    def __call__(self, domain: str, now: dt.datetime, history: History | None = None,
                 warn_days: int | None = None,
                 earlier: Mapping[str, Sequence[bytes]] | None = None) -> DomainReport: ...


def prepare(opts: CheckOptions) -> Checker:
    """The start checks of a scan (identity, a validating resolver, the trust anchor), then a
    function that checks one domain. Raises :class:`CheckSetupError` with one line."""
    from danescan import startchecks
    from producer.printable import printable
    from workers.dane import TrustStore
    from workers.dane.roots import mozilla_trust_store
    from workers.dns import EngineSettings, load_trust_anchor
    from workers.dns.bounds import Bounds
    from workers.dns.probe import run_async
    from workers.scan.batch import ScanContext
    from workers.scan.check import build_report, check_domain
    from workers.smtp import ProbeTimeouts
    from workers.smtp.throttle import local_throttle

    if not Path(opts.trust_anchor).is_file():
        raise CheckSetupError(f"{printable(opts.trust_anchor, 300)}: trust anchor file not found")
    try:
        anchors = load_trust_anchor(opts.trust_anchor)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CheckSetupError(f"{printable(opts.trust_anchor, 300)}: not a trust anchor file "
                              f"({printable(str(exc), 200)})") from None
    env = Settings.from_env()
    exclusions = startchecks.exclusions(env.exclude)  # polite scanning applies to checks too
    if isinstance(exclusions, str):
        raise CheckSetupError(exclusions)
    problem = startchecks.identity(opts.ehlo_name, opts.contact, opts.resolver, opts.trust_anchor)
    if problem:
        raise CheckSetupError(problem)
    problem = startchecks.resolver(env, opts.resolver)
    if problem:
        raise CheckSetupError(f"DNSSEC cannot be judged, so neither can DANE: {problem}")
    if opts.public_roots:
        try:
            trust = TrustStore.from_pem(Path(opts.public_roots).read_bytes())
        except (OSError, ValueError) as exc:
            raise CheckSetupError(f"{printable(opts.public_roots, 300)}: cannot read PEM roots "
                                  f"({printable(str(exc), 200)})") from None
    else:
        trust = mozilla_trust_store()
    settings = EngineSettings(opts.resolver)
    bounds = Bounds(env.max_mx_hosts, env.max_addresses)
    timeouts = ProbeTimeouts(total=env.probe_deadline)
    throttle = local_throttle(env.rate_limits())  # one per watch: its rates hold across rounds

    def check(domain: str, now: dt.datetime, history: History | None = None,
              warn_days: int | None = None,
              earlier: Mapping[str, Sequence[bytes]] | None = None) -> DomainReport:
        ctx = ScanContext(scan_id="check", now=now, dns_settings=settings, anchors=anchors,
                          ehlo_name=opts.ehlo_name, probe_all=True, trust_store=trust,
                          timeouts=timeouts, dns_bounds=bounds, smtp_port=opts.port,
                          exclusions=exclusions, throttle=throttle)
        outcome = run_async(check_domain(domain, ctx, history))
        return build_report(outcome, now, opts.resolver, opts.port, warn_days, earlier)

    return check


def options(resolver: str | None, trust_anchor: str | None, port: int, public_roots: str | None,
            ehlo_name: str | None, contact: str | None) -> CheckOptions:
    from danescan.scan_cli import system_resolver

    s = Settings.from_env()
    return CheckOptions(resolver or s.resolver or system_resolver(),
                        trust_anchor or s.trust_anchor or str(ROOT_ANCHORS), port,
                        public_roots or s.public_roots or None, ehlo_name or s.ehlo_name,
                        s.contact if contact is None else contact)


def checker_for(domains: Sequence[str], opts: CheckOptions) -> Checker:
    """``check`` and ``watch`` alike: every name checked for syntax, then the start checks;
    one line on stderr and exit 2 for the first problem."""
    for domain in domains:
        problem = domain_syntax(domain)
        if problem:
            _fail(problem)
    try:
        return prepare(opts)
    except CheckSetupError as exc:
        _fail(str(exc))


def domain_syntax(domain: str) -> str | None:
    """The one-line problem with a name given on the command line, or None."""
    from producer.printable import printable
    from workers.names import BadName, normalize_text

    try:
        normalize_text(domain)
    except BadName as exc:
        return f"{printable(domain, 200)!r} is not a domain name: {exc.reason}"
    return None


# ---- text for people -------------------------------------------------------------------------

_HEADLINE = {
    Status.VALID: "DANE valid",
    Status.NO_DANE: "DANE not deployed",
    Status.FAILED: "DANE FAILS",
    Status.ERROR: "cannot check",
}


def _wrap(text: str, indent: int, width: int = 100) -> list[str]:
    """Wrapped at spaces, never inside a `record` (it stays one line to copy)."""
    import re
    import textwrap

    glued = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\x00"), text)
    lines = textwrap.wrap(glued, width=width, initial_indent=" " * indent,
                          subsequent_indent=" " * (indent + 2), break_on_hyphens=False,
                          break_long_words=False)
    return [line.replace("\x00", " ") for line in lines]


def _dnssec(status: str, reason: str) -> str:
    return f"{status} ({reason})" if reason else status


def _address_lines(a: AddressReport) -> list[str]:
    j = a.to_json()
    smtp = j["smtp"]
    tls = f" {smtp['tls_version']}" if smtp["tls_version"] else ""
    probe = f"STARTTLS {smtp['status']}{tls}" if smtp["status"] else "not probed"
    v = j["verdict"]
    rfc = f"RFC 7672: {v['rfc']}"
    if v["reason"] == "no-tlsa":
        view = "no TLSA (DANE not deployed)"
    elif v["valid"]:
        m = v["matched"]
        view = f"valid ({m['usage']} {m['selector']} {m['mtype']} at depth {m['depth']})" if m \
            else "valid"
    else:
        view = f"invalid: {v['reason']}"
    paper = "valid" if v["paper_valid"] else f"invalid: {v['paper_reason']}"
    lines = [f"    {a.ip:<17} {probe:<26} {view};  {rfc};  paper: {paper}"]
    if j["leaf"]:
        leaf = j["leaf"]
        expires = (leaf["not_after"] or "(unreadable)")[:10]
        lines.append(f"    {'':<17} leaf {leaf['subject']}, expires {expires}, "
                     f"SPKI SHA-256 {leaf['spki_sha256'][:16]}...")
    return lines


def _host_lines(h: HostReport) -> list[str]:
    j = h.to_json()
    out = [f"  {h.host}   {_HEADLINE[h.status] if h.dane_published is not False else 'no TLSA'}"]
    addrs = [*j["a"]["records"], *j["aaaa"]["records"]] if j["a"] and j["aaaa"] else []
    a_sec = _dnssec(j["a"]["dnssec"], j["a"]["dnssec_reason"]) if j["a"] else "?"
    if j["cname_target"]:
        out.append(f"    {'CNAME':<10} {j['cname_target']}")
    out.append(f"    {'addresses':<10} {', '.join(addrs) or 'none'}   DNSSEC {a_sec}")
    t = j["tlsa"]
    if t.get("records") or t.get("status") not in ("NOERROR", "NXDOMAIN"):
        ttl_value = t.get("published_ttl") or t.get("ttl")
        ttl = f"   TTL {ttl_value}" if ttl_value is not None else ""
        out.append(f"    {'TLSA':<10} {t['name']}   {t['status']}   DNSSEC "
                   f"{_dnssec(t['dnssec'], t['dnssec_reason'])}{ttl}")
        for r in t["records"]:
            out.append(f"    {'':<10} {r if len(r) <= 84 else r[:81] + '...'}")
    else:
        out.append(f"    {'TLSA':<10} none at {t['name']}")
    for a in h.addresses:
        out.extend(_address_lines(a))
    return out


def render_text(report: DomainReport) -> str:
    """The report for people: aligned, one block per MX host, then the sentences."""
    if report.status is Status.ERROR:
        return f"{report.domain}   cannot check: {report.error}"
    j = report.to_json()
    mx = j["mx"] or {}
    lines = [f"{report.domain}   {_HEADLINE[report.status]}   (checked "
             f"{report.checked_at:%Y-%m-%d %H:%M:%S} UTC via {report.resolver})"]
    hosts = ", ".join(mx.get("hosts", [])) or "none"
    kind = "implicit MX" if mx.get("implicit") else "MX"
    lines.append(f"  {kind:<12} {hosts}   DNSSEC {_dnssec(mx.get('dnssec', '?'), mx.get('dnssec_reason', ''))}")
    for h in report.hosts:
        lines.append("")
        lines.extend(_host_lines(h))
    notes = (*(n for n in report.notes if n not in report.problems), *report.no_dane_notes)
    sections = (("what is wrong", report.problems), ("before it breaks", report.warnings),
                ("notes", notes))
    for title, sentences in sections:
        if sentences:
            lines.append("")
            lines.append(f"  {title}:")
            for s in sentences:
                lines.extend(_wrap(f"- {s}", 4))
    return "\n".join(lines)


@click.command("check")
@click.argument("domain")
@probe_options("check")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (see the README).")
@click.option("--port", default=25, show_default=True, type=click.IntRange(1, 65535),
              help="Port probed (the TLSA records are always those at _25._tcp, as senders use).")
@click.option("--require-dane", is_flag=True,
              help="Exit 1 also when no MX host publishes TLSA (DANE not deployed).")
def check(domain: str, resolver: str | None, trust_anchor: str | None, as_json: bool, port: int,
          public_roots: str | None, require_dane: bool, ehlo_name: str | None,
          contact: str | None) -> None:
    """Check one domain's DANE for SMTP and say in plain words what to fix.

    \b
    Shows the MX set and its DNSSEC status, every MX host's addresses, its TLSA
    records and their DNSSEC status, a STARTTLS probe of every address, the
    verdict of every address (RFC 7672 outcome and the paper's reason), and one
    sentence per failure saying what is wrong and what to publish or change.

    \b
    Exit status:
      0  every MX host that publishes TLSA validates, or none publishes TLSA
         ("DANE not deployed"; exit 1 instead with --require-dane)
      1  DANE is published and fails for at least one MX host (or the MX RRset
         is DNSSEC-bogus)
      2  the check could not run: not a domain name, NXDOMAIN, null MX, no mail
         service, the MX lookup failed, the resolver is unreachable or does not
         validate DNSSEC: one line on stderr
    """
    run = checker_for((domain,), options(resolver, trust_anchor, port, public_roots, ehlo_name,
                                         contact))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    report = run(domain, now)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
    elif report.status is not Status.ERROR:
        click.echo(render_text(report))
    if report.status is Status.ERROR:
        _fail(report.error)
    code = report.exit_code
    if require_dane and report.status is Status.NO_DANE:
        code = EXIT_DANE_FAILS
    sys.exit(code)
