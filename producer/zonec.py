"""The compiled fast path of the zone parser, when it is built: :mod:`producer._zonescan`.

``producer/_zonescan.c`` is an optional extension (``pip install -e .`` builds it when a C
compiler and the Python headers are there, and goes on without it otherwise). When it is missing
or fails to import, :data:`AVAILABLE` is False, :data:`UNAVAILABLE` says why, and the parser uses
the numpy fast path (:mod:`producer.zonefast`) instead: same results, about five times slower.
``DANESCAN_ZONE_ENGINE=numpy`` chooses the numpy path even when the extension is there.

:func:`scan` reads the lines of a block from a byte offset for as long as they are *simple* (see
the C file's header: ``OWNER [TTL] [IN] TYPE RDATA`` in plain ASCII, NS and DS with names the
careful path would accept the same way, any known type skipped) and stops at the first other
line, which the caller reads with the careful path, with the same state, before calling again.
NS/DS records are grouped by owner in C and closed groups become :class:`Delegation` tuples in C;
Python sees one call per block and per special line, no object per skipped line.
"""

from __future__ import annotations

import os
from typing import Any, Final, NamedTuple

from producer.zonesyntax import VOCAB
from producer.zonetypes import Delegation

MODE_DIRECT: Final = 0  # closed groups become Delegations; DS-only groups are counted and dropped
MODE_DS_ONLY: Final = 1  # ... DS-only groups are emitted with ns=()
MODE_RAW: Final = 2  # closed groups become (name, ns, has_ds, line), for the caller's window

UNAVAILABLE: str | None
try:
    from producer import _zonescan
except ImportError as exc:  # not built (no compiler) or not importable: the numpy path is used
    AVAILABLE = False
    UNAVAILABLE = f"producer._zonescan not importable: {exc}"
else:
    _zonescan.setup(dict(VOCAB), Delegation)
    AVAILABLE = True
    UNAVAILABLE = None


def default_engine() -> str:
    """``"c"`` when the extension is there, else ``"numpy"``; ``DANESCAN_ZONE_ENGINE`` overrides
    (``numpy``; ``c`` falls back to numpy when the extension is missing)."""
    wanted = os.environ.get("DANESCAN_ZONE_ENGINE", "c").strip().lower()
    return "c" if wanted == "c" and AVAILABLE else "numpy"


class Scanned(NamedTuple):
    pos: int  # where the scan stopped: the end, or the start of a line for the careful path
    lineno: int  # lines read before pos
    records: int
    delegations: int
    ds_without_ns: int
    tok_start: int  # span of the last owner token read (-1: none)
    tok_end: int
    cur: str | None  # the group left open
    cur_ns: list[str]
    cur_ds: bool
    cur_line: int
    ns_cut: int  # NS records left out: their group had max_ns distinct targets already


def scan(
    block: bytes,
    pos: int,
    lineno: int,
    origin: str,
    zone: str,
    group: tuple[str | None, list[str], bool, int],
    out: list[Any],
    mode: int,
    max_ns: int,
) -> Scanned:
    """Read the simple lines of ``block`` from ``pos``; see the module doc.

    ``origin`` and ``zone`` must be canonical names without escapes (the caller checks); the
open group's ``cur_ns`` must be distinct, at most ``max_ns`` (it comes back so).
    """
    cur, cur_ns, cur_ds, cur_line = group
    return Scanned._make(
        _zonescan.scan(
            block, pos, lineno, origin, zone, cur, cur_ns, cur_ds, cur_line, out, mode, max_ns
        )
    )
