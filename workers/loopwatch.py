"""Event-loop stalls of a worker process, logged with the stack that held the loop (issue 13).

A callback on the loop marks the time every ``beat`` seconds; a watcher thread looks at the mark
as often, and when it is older than ``threshold`` it logs the loop thread's stack once (what runs
on the loop, or waits for the GIL, at that moment) and, when the loop is back, how long it was
away. A DNS answer is not lost to a stall any more (``workers.dns.engine`` gives a late attempt
its time back), but a stall still delays every group of the process: this says where it came from.
Cost: one loop callback and one thread wake-up per beat.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections import Counter
from typing import Any

log = logging.getLogger("danescan.loop")


class LoopWatch:
    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float = 0.1,
                 beat: float = 0.05) -> None:
        self.loop = loop
        self.threshold = threshold
        self.beat = beat
        self.stalls = 0
        self.longest = 0.0
        self._mark = time.monotonic()
        self._ident: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-watch", daemon=True)

    def start(self) -> None:
        """Call from any thread once the loop runs (or will run) ``run_forever``."""
        self.loop.call_soon_threadsafe(self._tick)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _tick(self) -> None:
        self._ident = threading.get_ident()
        self._mark = time.monotonic()
        if not self._stop.is_set():
            self.loop.call_later(self.beat, self._tick)

    def _watch(self) -> None:
        reported = 0.0  # the mark of the stall already reported
        while not self._stop.wait(self.beat):
            mark = self._mark
            away = time.monotonic() - mark
            if away > self.threshold + self.beat and reported != mark:
                reported = mark
                self.stalls += 1
                frame = sys._current_frames().get(self._ident or -1)
                stack = "".join(traceback.format_stack(frame, limit=12)) if frame else "?"
                log.warning("event loop away for %.2f s so far; its thread is at:\n%s",
                            away, stack)
                self._wait_back(mark)

    def _wait_back(self, mark: float) -> None:
        while self._mark == mark and not self._stop.wait(self.beat):
            pass
        away = self._mark - mark - self.beat
        self.longest = max(self.longest, away)
        log.warning("event loop back after %.2f s away", away)


def await_chain(task: asyncio.Task[Any]) -> list[str]:
    """Where a pending task waits: one line per coroutine of its await chain, outermost first
    (file:line function), then what the innermost awaits (a Future, a sleep, a lock)."""
    out: list[str] = []
    obj: Any = task.get_coro()
    for _ in range(64):  # a chain is short; a cycle is not followed for ever
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "ag_frame", None) \
            or getattr(obj, "gi_frame", None)
        if frame is None:
            if obj is not None:
                out.append(f"awaits {type(obj).__name__}")
            break
        out.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        obj = getattr(obj, "cr_await", None) or getattr(obj, "ag_await", None) \
            or getattr(obj, "gi_yieldfrom", None)
    return out


def describe_tasks(loop: asyncio.AbstractEventLoop, limit: int = 40) -> str:
    """The loop's pending tasks grouped by where they wait (the most common places first, at
    most ``limit`` places): what a chunk that never ends is stuck on. Call on the loop's
    thread."""
    places = Counter(tuple(await_chain(task)) for task in asyncio.all_tasks(loop))
    lines = [f"{places.total()} tasks pending"]
    for chain, count in places.most_common(limit):
        lines.append(f"{count} x")
        lines.extend(f"    {step}" for step in chain)
    if len(places) > limit:
        lines.append(f"... and {len(places) - limit} more places")
    return "\n".join(lines)
