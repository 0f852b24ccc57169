"""Read the lab's ground truth (DIR/truth.jsonl) for one hour."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Truth:
    hour: int
    domains: dict[str, dict[str, Any]]
    hosts: dict[str, dict[str, Any]]
    rollovers: list[dict[str, Any]]


def read_truth(path: Path, hour: int | None = None) -> Truth:
    """The truth of ``hour`` (default: the latest hour in the file)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path}: empty ground truth")
    h = max(r["hour"] for r in rows) if hour is None else hour
    domains = {r["domain"]: r for r in rows if r["kind"] == "domain" and r["hour"] == h}
    hosts = {r["host"]: r for r in rows if r["kind"] == "mx" and r["hour"] == h}
    rollovers = [r for r in rows if r["kind"] == "rollover" and r["hour"] <= h]
    if not domains:
        raise ValueError(f"{path}: no truth for hour {h}")
    return Truth(h, domains, hosts, rollovers)
