"""The lab, started once per test session (marker ``lab``): real NSD, unbound and mail servers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import control
from lab.paths import LabPaths
from lab.servers import LabError
from lab.truthfile import Truth, read_truth

LAB_DOMAINS = int(os.environ.get("DANESCAN_TEST_LAB_DOMAINS", "300"))


@dataclass
class LabHandle:
    dir: Path
    resolver: str
    trust_anchor: Path
    zone_files: list[Path]
    truth_path: Path
    domains: int

    @property
    def hour(self) -> int:
        return int(json.loads(LabPaths(self.dir).manifest.read_text())["hour"])

    def truth(self, hour: int | None = None) -> Truth:
        return read_truth(self.truth_path, self.hour if hour is None else hour)

    def advance(self) -> int:
        control.advance(self.dir)
        return self.hour


@contextlib.contextmanager
def running_lab(d: Path, domains: int = LAB_DOMAINS, seed: int = 7,
                shape: str = "scenario") -> Iterator[LabHandle]:
    """A lab in the first free address slot, stopped afterwards."""
    if os.geteuid() != 0 or shutil.which("nsd") is None or shutil.which("unbound") is None:
        pytest.fail("the lab needs root, nsd and unbound: run scripts/install-system-packages.sh")
    try:
        r = control.up(d, domains, seed=seed, slot=None, shape=shape)
    except LabError as exc:
        pytest.fail(f"lab up failed: {exc}")
    try:
        yield LabHandle(d, r.resolver, r.trust_anchor, r.zone_files, r.truth, domains)
    finally:
        control.down(d)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """The session's lab. Tests may advance it: read the truth of ``lab.hour``."""
    with running_lab(tmp_path_factory.mktemp("lab")) as handle:
        yield handle
