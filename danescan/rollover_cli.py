"""``danescan rollover plan | check | publish``: a TLSA key rollover done by the TTLs.

* ``plan``: reads the TTL resolvers honour (the RRSIG original TTL of the TLSA RRset, or the zone's
  negative TTL when there is none), prints the RRset to publish now (current + next), the earliest
  moment the next key may go live, and the record to withdraw afterwards.
* ``check``: exit 0 when the next key may go live now, 1 with the time to wait when not yet, 2 when
  the check cannot run. ``--deploy-hook``: as certbot's ``--deploy-hook`` or acme.sh's
  ``--reloadcmd``, the next certificate comes from the environment they set (RENEWED_LINEAGE;
  CERT_FULLCHAIN_PATH / CERT_PATH) and the current one from the state file; put it before the
  reload (``danescan rollover check --deploy-hook --mx MX && systemctl reload postfix``) so that
  the reload happens only when the plan allows it. An allowed switch is recorded as done.
* ``publish``: carries out each step that is due through RFC 2136 dynamic update with TSIG to the
  zone's primary (the SOA MNAME or ``--server``) and records the progress in a state file, so it
  can be re-run at any time (from cron, say) and resumes where it stopped.

The timing rules are in workers/dane/rollover_plan.py, the DNS I/O in workers/dns/rollover_io.py.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from danescan.errors import fail
from danescan.tlsa_cli import load_file, split_host
from workers.dane.publish import Material, PublishError, records_for, zone_line
from workers.dane.rollover_plan import RolloverPlan, RolloverState, Step, Ttls, duration, make_plan
from workers.dane.tlsa import TlsaRecord
from workers.dns import rollover_io as rio
from workers.dns.tsigfile import TsigFileError, TsigKey, parse
from workers.names import BadName, normalize_text, tlsa_text

EXIT_NOT_YET = 1



def _server(text: str, what: str) -> rio.Server:
    try:
        host, port = split_host(text, 53)
    except ValueError as exc:
        fail(f"{what} {text!r}: {exc}")
    return rio.Server(host, port)


def _system_resolver() -> str:
    from danescan.scan_cli import system_resolver

    return system_resolver()


def _now(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--now {text!r}: not an ISO 8601 time")
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _fmt(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Context:
    mx: str
    owner: str
    resolver: rio.Server
    state_path: Path
    now: dt.datetime


def _records(path: str, material: Material, usage: int, selector: int,
             mtype: int) -> tuple[TlsaRecord, ...]:
    try:
        return tuple(records_for(material, usage, (selector,), (mtype,)))
    except PublishError as exc:
        fail(f"{path}: {exc}")


def _load_state(path: Path) -> RolloverState | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        fail(f"{path}: cannot read the state ({exc.strerror or exc})")
    except UnicodeDecodeError:
        fail(f"{path}: not a rollover state (not UTF-8 text)")
    try:
        return RolloverState.from_json(text)
    except ValueError as exc:
        fail(f"{path}: {exc}")


def _save_state(path: Path, state: RolloverState) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(state.to_json())
        tmp.replace(path)
    except OSError as exc:
        fail(f"{path}: cannot write the state ({exc.strerror or exc})")


def _plan(ctx: Context, current: tuple[TlsaRecord, ...],
          next_: tuple[TlsaRecord, ...]) -> tuple[RolloverPlan, rio.ZoneFacts]:
    try:
        answer = rio.tlsa(ctx.resolver, ctx.owner)
        zone = rio.zone_of(ctx.resolver, ctx.owner)
    except rio.RolloverDnsError as exc:
        fail(str(exc))
    if not zone.secure:
        fail(f"{zone.zone} SOA at {ctx.resolver}: the answer is not DNSSEC-secure (no AD bit): "
              "the resolver does not validate or the zone is not signed; DANE needs both")
    rrset_ttl = None
    if answer.exists:
        rrset_ttl = answer.original_ttl if answer.original_ttl is not None else answer.ttl
    ttls = Ttls(rrset_ttl=rrset_ttl, soa_ttl=zone.soa_ttl, soa_minimum=zone.minimum,
                denial_ttl=None if answer.exists else answer.denial_ttl)
    return make_plan(ctx.owner, answer.records, current, next_, ttls), zone


def _state_for(ctx: Context, plan: RolloverPlan, zone: str) -> RolloverState:
    state = _load_state(ctx.state_path)
    if state is None or (state.step(ctx.now) is Step.DONE and not state.same_plan(plan)):
        return RolloverState.start(plan, zone)
    if not state.same_plan(plan):
        fail(f"{ctx.state_path}: a rollover from {', '.join(state.current)} to "
              f"{', '.join(state.next)} is in progress; finish it or remove the file")
    return state


def _observe(ctx: Context, plan: RolloverPlan, state: RolloverState) -> RolloverState:
    """Record when the next record is first seen at every authoritative server."""
    if state.visible_at is not None:
        return state
    try:
        servers = [rio.Server(ip) for ip in rio.authoritative(ctx.resolver, state.zone)]
    except rio.RolloverDnsError as exc:
        fail(str(exc))
    missing = rio.missing_at(servers, ctx.owner, plan.next)
    if missing:
        return state
    if state.published_at is None:  # published by other means: the plan starts from here
        state = state.did("next record found published", ctx.now, published_at=ctx.now)
    return state.did("next record served by every authoritative server "
                     f"({', '.join(str(s) for s in servers)})", ctx.now, visible_at=ctx.now)


def _context(mx: str, port: int, resolver: str | None, state: str | None,
             now: str | None) -> Context:
    if not 0 < port < 65536:
        fail(f"--port {port}: not a port")
    try:
        host = normalize_text(mx)
        owner = tlsa_text(host, port)
    except BadName as exc:
        fail(f"--mx {mx!r}: {exc}")
    state_path = (Path(state) if state else
                  Path("~/.local/state/danescan").expanduser() / f"rollover-{host.rstrip('.')}.json")
    return Context(host, owner, _server(resolver or _system_resolver(), "--resolver"),
                   state_path, _now(now))


def _print_plan(plan: RolloverPlan, zone: rio.ZoneFacts, state: RolloverState, ttl: int,
                now: dt.datetime) -> None:
    echo = click.echo
    echo(f"zone {zone.zone} (primary {zone.mname}); TLSA owner {plan.owner}")
    echo(f"resolvers may hold an answer without the next record for {plan.ttl} s: "
         f"{plan.ttl_reason}")
    for note in plan.notes:
        echo(f"note: {note}")
    if plan.nothing_to_do:
        echo("the published records already cover the next key: it may go live now")
        return
    echo("1. publish now (current + next):")
    for r in plan.publish_now:
        echo(f"   {zone_line(plan.owner, ttl, r)}" + ("   ; new" if r in plan.add else ""))
    switch_at = state.switch_at
    if switch_at is None:
        echo(f"2. switch to the next key no earlier than 2 x {plan.ttl} s = {plan.wait} s "
             "after every authoritative server serves the next record")
    else:
        echo(f"2. switch to the next key no earlier than {_fmt(switch_at)} (served everywhere "
             f"since {_fmt(state.visible_at or switch_at)}; 2 x {plan.ttl} s)"
             + (f", in {duration(state.seconds_to_switch(now) or 0)}"
                if now < switch_at else ", i.e. now"))
    echo("3. after the switch, withdraw:")
    for r in plan.withdraw:
        echo(f"   {zone_line(plan.owner, ttl, r)}")
    if not plan.withdraw:
        echo("   nothing (the current records cover the next key too)")


_common = [
    click.option("--mx", required=True, metavar="MXHOST", help="The mail server's host name."),
    click.option("--resolver", metavar="ADDR[:PORT]",
                 help="Validating resolver (default: the first nameserver of /etc/resolv.conf)."),
    click.option("--usage", type=int, default=3, show_default=True),
    click.option("--selector", type=int, default=1, show_default=True),
    click.option("--mtype", type=int, default=1, show_default=True),
    click.option("--port", type=int, default=25, show_default=True, help="Port of the TLSA owner."),
    click.option("--ttl", type=int, default=None,
                 help="TTL of the records to add (default: the RRset's, else 3600)."),
    click.option("--state", metavar="FILE",
                 help="Progress file (default ~/.local/state/danescan/rollover-MXHOST.json)."),
    click.option("--now", metavar="ISO-TIME", hidden=True,
                 help="The plan's clock (tests, replays); default: the real time."),
]


def _options(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_common):
        f = option(f)
    return f


@dataclass(frozen=True)
class Inputs:
    ctx: Context
    plan: RolloverPlan
    zone: rio.ZoneFacts
    state: RolloverState
    ttl: int


def _inputs(current: str | None, next_: str | None, mx: str, resolver: str | None, usage: int,
            selector: int, mtype: int, port: int, ttl: int | None, state: str | None,
            now: str | None, hook: bool = False) -> Inputs:
    if ttl is not None and not 0 <= ttl <= 2**31 - 1:
        fail(f"--ttl {ttl}: not a TTL")
    ctx = _context(mx, port, resolver, state, now)
    saved = _load_state(ctx.state_path)
    if hook and next_ is None:
        next_ = _hook_certificate()
    if next_ is None:
        fail("--next CERT_OR_KEY is needed")
    next_records = _records(next_, load_file(next_, "any"), usage, selector, mtype)
    if current is None:
        if saved is None:
            fail(f"--current CERT_OR_KEY is needed (no state in {ctx.state_path})")
        cur_records = tuple(TlsaRecord.from_text(r) for r in saved.current)
        if hook and saved.next != tuple(str(r) for r in next_records):
            if tuple(str(r) for r in next_records) == saved.current:
                cur_records = next_records  # the certificate renewed is the current one
            else:
                fail(f"{next_}: its key is not the one planned in {ctx.state_path} "
                      f"({', '.join(saved.next)}): run 'danescan rollover plan' for it first",
                      EXIT_NOT_YET)
    else:
        cur_records = _records(current, load_file(current, "any"), usage, selector, mtype)
    plan, zone = _plan(ctx, cur_records, next_records)
    publish_ttl = ttl if ttl is not None else (plan.ttl if plan.existing else 3600)
    # a next key the published records cover already needs no state (nor disturbs one)
    st = (RolloverState.start(plan, zone.zone) if plan.nothing_to_do
          else _state_for(ctx, plan, zone.zone))
    return Inputs(ctx, plan, zone, st, publish_ttl)


def _hook_certificate() -> str:
    """The certificate certbot (RENEWED_LINEAGE) or acme.sh (CERT_FULLCHAIN_PATH, CERT_PATH)
    has just renewed. These variables are their interface to hooks, read only here."""
    lineage = os.environ.get("RENEWED_LINEAGE")
    if lineage:
        return str(Path(lineage) / "fullchain.pem")
    for name in ("CERT_FULLCHAIN_PATH", "CERT_PATH"):
        if os.environ.get(name):
            return os.environ[name]
    fail("--deploy-hook: neither RENEWED_LINEAGE (certbot) nor CERT_FULLCHAIN_PATH/CERT_PATH "
          "(acme.sh) is set; give --next")


@click.group("rollover")
def rollover() -> None:
    """Roll a mail server's key without breaking DANE: plan, check, publish."""


@rollover.command("plan")
@click.option("--current", metavar="CERT_OR_KEY", help="The certificate or key in use now.")
@click.option("--next", "next_", metavar="CERT_OR_KEY", help="The certificate or key to come.")
@_options
def plan_cmd(current: str | None, next_: str | None, **kw: object) -> None:
    """Print the RRset to publish now, when the next key may go live, and what to withdraw."""
    inp = _inputs(current, next_, **kw)  # type: ignore[arg-type]
    if inp.state.step(inp.ctx.now) is Step.DONE:
        click.echo(f"this rollover is done ({inp.ctx.state_path}): "
                   + "; ".join(inp.state.history[-1:]))
        return
    state = _observe(inp.ctx, inp.plan, inp.state) if inp.plan.existing else inp.state
    _print_plan(inp.plan, inp.zone, state, inp.ttl, inp.ctx.now)
    if state.visible_at is not None and inp.state.visible_at is None:
        _save_state(inp.ctx.state_path, state)


@rollover.command("check")
@click.option("--current", metavar="CERT_OR_KEY", help="The certificate or key in use now.")
@click.option("--next", "next_", metavar="CERT_OR_KEY", help="The certificate or key to come.")
@click.option("--deploy-hook", "hook", is_flag=True,
              help="Run as certbot's deploy hook or acme.sh's reload command.")
@_options
def check_cmd(current: str | None, next_: str | None, hook: bool, **kw: object) -> None:
    """Exit 0 when the next key may go live now, 1 (with the time to wait) when not yet."""
    inp = _inputs(current, next_, hook=hook, **kw)  # type: ignore[arg-type]
    plan, now = inp.plan, inp.ctx.now
    if plan.nothing_to_do:
        click.echo("safe: the published records already cover the next key")
        return
    state = _observe(inp.ctx, plan, inp.state)
    if state != inp.state:
        _save_state(inp.ctx.state_path, state)
    step = state.step(now)
    if step in (Step.PUBLISH_NEXT, Step.WAIT_VISIBLE):
        missing = [str(r) for r in plan.next if r not in plan.existing]
        what = (f"publish {', '.join(missing)} first" if missing else
                "the next record is not yet served by every authoritative server")
        click.echo(f"not yet: {what}; then wait {duration(plan.wait)} (2 x {plan.ttl} s)")
        sys.exit(EXIT_NOT_YET)
    if step is Step.WAIT_SWITCH:
        wait = state.seconds_to_switch(now) or 0
        assert state.switch_at is not None
        click.echo(f"not yet: wait {duration(wait)} ({wait} s), until {_fmt(state.switch_at)}")
        sys.exit(EXIT_NOT_YET)
    if hook and state.switched_at is None:
        _save_state(inp.ctx.state_path, state.did("switch allowed to the deploy hook", now,
                                                   switched_at=now))
    click.echo(f"safe: the next record has been served everywhere since "
               f"{_fmt(state.visible_at or now)}, more than 2 x {plan.ttl} s")


@rollover.command("publish")
@click.option("--current", metavar="CERT_OR_KEY", help="The certificate or key in use now.")
@click.option("--next", "next_", metavar="CERT_OR_KEY", help="The certificate or key to come.")
@click.option("--tsig-key", "tsig_key", required=True, metavar="FILE",
              help="TSIG key (BIND, Knot or 'algorithm:name:secret' form).")
@click.option("--server", metavar="ADDR[:PORT]", help="The zone's primary (default: SOA MNAME).")
@click.option("--switched", is_flag=True, help="Record that the next key is live now.")
@_options
def publish_cmd(current: str | None, next_: str | None, tsig_key: str, server: str | None,
                switched: bool, **kw: object) -> None:
    """Do each step that is due (publish next, withdraw old) by dynamic update; resumable."""
    try:
        key = parse(Path(tsig_key).read_text())
    except OSError as exc:
        fail(f"{tsig_key}: cannot read ({exc.strerror or exc})")
    except (TsigFileError, UnicodeDecodeError) as exc:
        fail(f"{tsig_key}: {exc}")
    inp = _inputs(current, next_, **kw)  # type: ignore[arg-type]
    plan, ctx, state = inp.plan, inp.ctx, inp.state
    primary = _server(server, "--server") if server else _primary(ctx, inp.zone)
    if plan.nothing_to_do:
        click.echo("nothing to publish: the published records already cover the next key")
        return
    if state.step(ctx.now) is Step.PUBLISH_NEXT:
        if plan.add:
            _update(primary, inp, key, add=plan.add)
            click.echo(f"published at {primary}: " + "; ".join(str(r) for r in plan.add))
        state = state.did(f"published next record at {primary}", ctx.now, published_at=ctx.now)
        _save_state(ctx.state_path, state)
    state = _observe(ctx, plan, state)
    if switched and state.switched_at is None:
        if state.step(ctx.now) not in (Step.SWITCH,):
            _save_state(ctx.state_path, state)
            fail("--switched: the plan does not allow the switch yet "
                  "(see 'danescan rollover check')", EXIT_NOT_YET)
        state = state.did("next key live (publish --switched)", ctx.now, switched_at=ctx.now)
    if state.step(ctx.now) is Step.WITHDRAW_OLD:
        if plan.withdraw:
            _update(primary, inp, key, delete=plan.withdraw)
            click.echo(f"withdrawn at {primary}: " + "; ".join(str(r) for r in plan.withdraw))
        state = state.did(f"withdrew old record at {primary}", ctx.now, withdrawn_at=ctx.now)
    _save_state(ctx.state_path, state)
    step = state.step(ctx.now)
    if step is Step.WAIT_VISIBLE:
        click.echo("next: wait until every authoritative server serves the next record")
    elif step is Step.WAIT_SWITCH and state.switch_at is not None:
        click.echo(f"next: the next key may go live at {_fmt(state.switch_at)} "
                   f"(in {duration(state.seconds_to_switch(ctx.now) or 0)})")
    elif step is Step.SWITCH:
        click.echo("next: the next key may go live now; then run publish again with --switched "
                   "(the deploy hook records it too) to withdraw the old record")
    elif step is Step.DONE:
        click.echo("done: " + "; ".join(str(r) for r in plan.final) + " published")


def _primary(ctx: Context, zone: rio.ZoneFacts) -> rio.Server:
    try:
        addrs = rio.addresses(ctx.resolver, zone.mname)
    except rio.RolloverDnsError as exc:
        fail(f"primary {zone.mname}: {exc}")
    if not addrs:
        fail(f"primary {zone.mname} (SOA MNAME of {zone.zone}) has no address; give --server")
    return rio.Server(addrs[0])


def _update(primary: rio.Server, inp: Inputs, key: TsigKey, add: tuple[TlsaRecord, ...] = (),
            delete: tuple[TlsaRecord, ...] = ()) -> None:
    try:
        rio.update(primary, inp.zone.zone, inp.ctx.owner, key, inp.ttl, add=add, delete=delete)
    except rio.RolloverDnsError as exc:
        fail(str(exc))
