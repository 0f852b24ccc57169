"""``danescan exclude FILE``: check an exclusion list, or turn it into unbound configuration."""

from __future__ import annotations

import click

from danescan.errors import fail


@click.command("exclude")
@click.argument("path")
@click.option("--unbound", is_flag=True,
              help="Print an unbound server: clause applying the list at the resolver too.")
def exclude(path: str, unbound: bool) -> None:
    """Check the exclusion list PATH (exit 2 with FILE:LINE on the first bad line) and say what
    it holds; with --unbound, print the configuration for the scan's resolver (include it from
    unbound.conf): no recursion below an excluded name, no query to an excluded address."""
    from workers.exclusion import ExclusionError, load, unbound_config

    try:
        listed = load(path)
    except ExclusionError as exc:
        fail(str(exc))
    if unbound:
        click.echo(unbound_config(listed), nl=False)
        return
    click.echo(f"{path}: {listed.entries:,} entries: {len(listed.suffixes):,} names, "
               f"{listed.networks:,} address ranges ({len(listed.networks_text()):,} after "
               f"merging); sha256 {listed.sha256}")
