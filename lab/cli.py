"""``danescan lab``: build, start, advance and stop the loopback lab."""

from __future__ import annotations

from pathlib import Path

import click

from lab import control
from lab.servers import LabError

DIR_OPTION = click.option("--dir", "lab_dir", type=click.Path(path_type=Path),
                          default=Path("./lab-data"), show_default=True,
                          help="Where the lab's files live.")


def _fail(exc: LabError) -> None:
    click.echo(f"danescan lab: {exc}", err=True)
    raise SystemExit(1)


@click.group()
def lab() -> None:
    """A DNSSEC-signed internet with STARTTLS mail servers on loopback, with its ground truth."""


@lab.command()
@DIR_OPTION
@click.option("--domains", default=1000, show_default=True, help="Second-level domains.")
@click.option("--shape", type=click.Choice(["scenario", "internet", "internet-clean"]),
              default="scenario",
              show_default=True,
              help="scenario: every outcome, dense; internet: shaped like .com/.se (mostly "
                   "unsigned, ~1 % TLSA in .com, heavy-tailed hosting, lame and slow name "
                   "servers; at least 1,000 domains; lab/TRUTH.md).")
@click.option("--seed", default=1, show_default=True, help="Same seed, same lab.")
@click.option("--workers", default=0, help="Signing processes (default: one per core).")
@click.option("--slot", default="0", show_default=True,
              help="Address block 0-9 (slot k>0: DNS on 127.(53+k).x.y, mail on 127.(100+5k).x.y), "
                   "or 'auto' for the first free one; labs in different slots run side by side.")
def up(lab_dir: Path, domains: int, seed: int, workers: int, slot: str, shape: str) -> None:
    """Build the lab in DIR, start it in the background and wait until it answers."""
    if slot != "auto" and not slot.isdigit():
        raise click.BadParameter(f"{slot!r} is not a slot number or 'auto'", param_hint="--slot")
    try:
        r = control.up(lab_dir, domains, seed, workers, None if slot == "auto" else int(slot),
                       shape)
    except LabError as exc:
        _fail(exc)
        return
    served = (f" ({r.facts['nsd_zones']} on NSD, {r.facts['pdns_zones']} on PowerDNS)"
              if r.facts.get("pdns_zones") else "")
    click.echo(f"lab up in {r.seconds:.1f} s: {domains} domains, {shape} shape, "
               f"{r.facts['zones']} zones{served}, {r.facts['listeners']} mail listeners")
    click.echo(f"resolver:     {r.resolver}")
    click.echo(f"trust anchor: {r.trust_anchor}")
    click.echo("zone files:   " + " ".join(str(z) for z in r.zone_files))
    click.echo(f"ground truth: {r.truth}")


@lab.command()
@DIR_OPTION
def advance(lab_dir: Path) -> None:
    """Move the lab one hour forward (rollovers progress; the truth gains that hour)."""
    try:
        facts = control.advance(lab_dir)
    except LabError as exc:
        _fail(exc)
        return
    click.echo(f"lab hour {facts['hour']}: {facts['changed_zones']} zones changed")


@lab.command()
@DIR_OPTION
def status(lab_dir: Path) -> None:
    """Say what runs and where."""
    try:
        st = control.status(lab_dir)
    except LabError as exc:
        _fail(exc)
        return
    click.echo(f"lab {st['dir']}: hour {st['hour']}, {st['domains']} domains, "
               f"{st['shape']} shape, seed {st['seed']}")
    click.echo(f"resolver {st['resolver']}:53, authoritative {', '.join(st['authoritative'])}:53, "
               f"{st['mail_listeners']} mail listeners on port 25")
    for name, (pid, up_) in st["processes"].items():
        click.echo(f"  {name:<10} pid {pid or '-':<8} {'running' if up_ else 'stopped'}")
    click.echo(f"trust anchor {st['trust_anchor']}; truth {st['truth']}")


@lab.command()
@DIR_OPTION
def down(lab_dir: Path) -> None:
    """Stop everything that 'lab up' started."""
    try:
        control.down(lab_dir)
    except LabError as exc:
        _fail(exc)
        return
    click.echo(f"lab in {lab_dir} stopped")
