"""The software version recorded with every scan: the installed distribution's, read once.

Run from a source tree that is not installed, the version of pyproject.toml at the time of
writing is the fallback.
"""

from __future__ import annotations

import importlib.metadata

FALLBACK = "0.1.0"

try:
    __version__ = importlib.metadata.version("danescan")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = FALLBACK
