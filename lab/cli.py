"""``danescan lab``: build, start, advance and stop the loopback lab."""

from __future__ import annotations

import click


@click.group()
def lab() -> None:
    """A DNSSEC-signed internet with STARTTLS mail servers on loopback, with its ground truth."""
