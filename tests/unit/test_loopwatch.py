"""A blocking call on a worker's event loop is logged with the stack that held the loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from workers.loopwatch import LoopWatch


def _blocks_the_loop() -> None:
    time.sleep(0.5)


def test_a_stall_is_logged_with_the_blocking_function(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    watch = LoopWatch(loop, threshold=0.1, beat=0.02)
    try:
        with caplog.at_level(logging.WARNING, logger="danescan.loop"):
            watch.start()
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.1), loop).result(10)
            loop.call_soon_threadsafe(_blocks_the_loop)
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.2), loop).result(10)
            deadline = time.monotonic() + 10
            while watch.longest == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        watch.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    assert watch.stalls >= 1
    assert watch.longest > 0.1
    stacks = [r.getMessage() for r in caplog.records if "its thread is at" in r.getMessage()]
    assert any("_blocks_the_loop" in s for s in stacks)
