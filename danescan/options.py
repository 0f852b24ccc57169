"""Options shared by the commands that probe the network (scan, check, watch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def probe_options(who: str) -> Callable[[F], F]:
    """--resolver, --trust-anchor, --public-roots, --ehlo-name and --contact, worded for ``who``
    (scan, check, watch)."""
    options = [
        click.option("--resolver", default=None,
                     help="Validating resolver ADDR[:PORT] [DANESCAN_RESOLVER; else "
                          "/etc/resolv.conf]."),
        click.option("--trust-anchor", default=None,
                     help="DS records of the root trust anchor [default: IANA's KSKs]."),
        click.option("--public-roots", default=None,
                     help="PEM roots for the paper's PKIX view [default: Mozilla's, via certifi]."),
        click.option("--ehlo-name", default=None,
                     help="Host name sent in EHLO; required beyond loopback [DANESCAN_EHLO_NAME]."),
        click.option("--contact", default=None,
                     help=f"E-mail address or URL of who runs the {who}; required beyond "
                          "loopback [DANESCAN_CONTACT]."),
    ]

    def apply(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply
