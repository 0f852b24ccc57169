"""Where a lab's files live under its directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabPaths:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "lab.json"

    @property
    def trust_anchor(self) -> Path:
        return self.root / "trust-anchor.txt"

    @property
    def zones(self) -> Path:
        return self.root / "zones"

    @property
    def signed(self) -> Path:
        return self.root / "nsd" / "zones"

    @property
    def truth(self) -> Path:
        return self.root / "truth.jsonl"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def smtp(self) -> Path:
        return self.root / "smtp"

    @property
    def hashes(self) -> Path:
        return self.root / "nsd" / "zone-hashes.json"

    @property
    def pdns(self) -> Path:
        return self.root / "pdns"

    @property
    def pdns_db(self) -> Path:
        return self.root / "pdns" / "zones.sqlite3"
