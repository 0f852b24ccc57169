"""The lab's shapes: the scenario lab (lab.plan) and the Internet-shaped one (lab.internet)."""

from __future__ import annotations

from lab import plan as pl
from lab.internet import build_internet_plan

SHAPES = ("scenario", "internet")


def build_plan(n_domains: int, seed: int, slot: int = 0, shape: str = "scenario") -> pl.Plan:
    """The lab's plan in one of ``SHAPES``."""
    if shape == "internet":
        return build_internet_plan(n_domains, seed, slot)
    if shape != "scenario":
        raise ValueError(f"unknown lab shape {shape!r} (one of {', '.join(SHAPES)})")
    return pl.build_plan(n_domains, seed, slot)
