"""danescan: DANE for SMTP, measured at Internet scale."""

from workers.version import __version__

__all__ = ["__version__"]
