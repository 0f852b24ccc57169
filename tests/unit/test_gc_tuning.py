"""The scan processes' collector thresholds (workers/gc_tuning.py): set by the embedded scan and by
every worker's pipeline, the two places a process keeps thousands of domains in flight."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers import gc_tuning


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def test_tune_sets_the_scan_thresholds(thresholds: None) -> None:
    gc.set_threshold(700, 10, 10)
    gc_tuning.tune()
    assert gc.get_threshold() == gc_tuning.THRESHOLDS
    assert gc_tuning.THRESHOLDS[0] >= 50_000  # short-lived objects die before a young collection sees them
    assert gc.isenabled()  # cyclic garbage is still collected
    assert gc.get_freeze_count() == 0


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(gc_tuning, "tune", lambda: calls.append(1))
    return calls


def test_the_embedded_scan_tunes_the_collector(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from danescan.embedded import ScanOptions, run_scan
    from workers.store.backend import ChdbDatabase
    from workers.store.engines import profile
    from workers.store.migrations import Migrator, discover

    calls = _spy(monkeypatch)
    db = ChdbDatabase(str(tmp_path / "db"))
    try:
        Migrator(db, discover(), profile("single")).apply()
        out = run_scan(db, [], ScanOptions(scan_id="gc", resolver="127.0.0.1:9", trust_anchor="",
                                               progress=False))
    finally:
        db.close()
    assert out["domains_read"] == 0
    assert calls == [1]


def test_a_worker_runtime_tunes_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.cluster.stream import Runtime
    from workers.settings import Settings

    calls = _spy(monkeypatch)
    rt = Runtime(Settings.from_env(), history=lambda hosts: {}, defer=lambda *a: None)
    try:
        assert calls == [1]
    finally:
        rt.watch.stop()
        rt.loop.call_soon_threadsafe(rt.loop.stop)
        rt.thread.join(5)
