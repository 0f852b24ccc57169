"""The garbage collector's thresholds for a scanning process (the embedded scan and every worker).

A scan keeps thousands of domains in flight, each with its futures, DNS answers and evidence, for
seconds at a time. With CPython's default thresholds (700, 10, 10) many of those objects live
long enough to be promoted, and the collector then runs a full collection, over everything the
process holds (modules, trust store, Public Suffix List, every domain in flight), about every
800 domains. Measured on the internet-shaped lab (20,000 domains, warm resolver cache, the
embedded scan): 3,400-3,900 young, 309-358 middle and 24-25 full collections per run by
default, and a fifth to a quarter of the scan's CPU (issue 13's note has the runs).

With these thresholds short-lived objects die before a young collection sees them: the same run
made 238 young, 20 middle and 1 full collection, with the same peak memory (about 740 MiB, most
of it chdb's). A full collection comes after 100 middle ones, about every 100,000 domains, so
cyclic garbage is still freed, later. Nothing is frozen (``gc.freeze``): an object frozen while
alive is never collected once it becomes garbage.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

THRESHOLDS = (100_000, 20, 100)


def tune() -> None:
    """Set the scan's thresholds for this process (idempotent)."""
    gc.set_threshold(*THRESHOLDS)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The cycle collector paused for a block that makes many objects and no cycles (a zone
    file's block of records, a query result's rows): otherwise each collection on the way walks
    every object of the process (a result of 435,000 rows: 1.0 s to convert, 0.37 s paused)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
