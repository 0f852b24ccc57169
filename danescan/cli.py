"""The ``danescan`` command. Each area adds its own click group or command here."""

from __future__ import annotations

import click

from danescan import __version__
from danescan.errors import fail
from workers.settings import SettingsError


class _Main(click.Group):
    """A setting from the environment that cannot be used is one line on stderr, exit 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            fail(str(exc))
            return None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="danescan")
def main() -> None:
    """Measure DANE for SMTP: zone files in, DANE verdicts in ClickHouse, answers in SQL."""


def _register() -> None:
    from danescan.check_cli import check
    from danescan.exclude_cli import exclude
    from danescan.report_cli import query, report
    from danescan.rollover_cli import rollover
    from danescan.scan_cli import demo, scan
    from danescan.sql_cli import sql
    from danescan.store_cli import migrate
    from danescan.tlsa_cli import tlsa
    from danescan.watch_cli import watch
    from lab.cli import lab

    for command in (lab, migrate, scan, demo, query, report, tlsa, rollover, exclude, check,
                    watch, sql):
        main.add_command(command)
    from danescan.cluster_cli import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_register()


if __name__ == "__main__":
    main()
