"""The contract for bad input on the command line: one line on stderr, a non-zero exit."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def fail(message: str, code: int = 2) -> NoReturn:
    """``danescan: MESSAGE`` on stderr and exit ``code`` (2: bad input or setup)."""
    click.echo(f"danescan: {message}", err=True)
    sys.exit(code)
