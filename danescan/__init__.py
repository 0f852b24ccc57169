"""danescan: DANE for SMTP, measured at Internet scale."""

__version__ = "0.1.0"
