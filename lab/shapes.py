"""The lab's shapes: the scenario lab (lab.plan) and the Internet-shaped one (lab.internet)."""

from __future__ import annotations

from lab import plan as pl
from lab.internet import build_internet_plan

# internet-clean: the internet shape without its name server faults (lame, REFUSED, slow, gone,
# SERVFAIL), domain for domain the same otherwise: what the faults cost a scan
SHAPES = ("scenario", "internet", "internet-clean")


def build_plan(n_domains: int, seed: int, slot: int = 0, shape: str = "scenario") -> pl.Plan:
    """The lab's plan in one of ``SHAPES``."""
    if shape in ("internet", "internet-clean"):
        return build_internet_plan(n_domains, seed, slot, faults=shape == "internet")
    if shape != "scenario":
        raise ValueError(f"unknown lab shape {shape!r} (one of {', '.join(SHAPES)})")
    return pl.build_plan(n_domains, seed, slot)
