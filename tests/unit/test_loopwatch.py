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


async def _waits_here(event: asyncio.Event) -> None:
    await event.wait()


def test_the_pending_tasks_are_described_by_where_they_wait() -> None:
    from workers.loopwatch import describe_tasks

    async def run() -> str:
        event = asyncio.Event()
        tasks = [asyncio.create_task(_waits_here(event)) for _ in range(3)]
        await asyncio.sleep(0)
        text = describe_tasks(asyncio.get_running_loop())
        event.set()
        await asyncio.gather(*tasks)
        return text

    text = asyncio.run(run())
    lines = text.splitlines()
    assert lines[0] == "4 tasks pending"  # the three and the one describing them
    assert lines[1] == "3 x"  # the three wait at the same place: grouped, most common first
    assert "test_loopwatch.py" in lines[2] and lines[2].endswith(" _waits_here")
    assert lines[3].endswith(" wait")  # asyncio.Event.wait, the innermost coroutine
    assert lines[4] == "    awaits FutureIter"  # the future it waits for


def test_a_chunk_not_done_in_time_has_the_pipeline_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    from dataclasses import replace

    from workers.cluster.stream import Runtime
    from workers.settings import Settings

    rt = Runtime(replace(Settings.from_env(), stuck_report_seconds=0.1),
                 history=lambda *a: {}, defer=lambda *a: None)
    try:
        finished = asyncio.run_coroutine_threadsafe(_future(rt.loop), rt.loop).result(5)
        with caplog.at_level(logging.WARNING, logger="danescan.worker"):
            waiting = asyncio.run_coroutine_threadsafe(rt._wait(finished, "owner-1", 7), rt.loop)
            time.sleep(0.35)
            rt.loop.call_soon_threadsafe(finished.set_result, None)
            assert waiting.result(5) is None
    finally:
        rt.watch.stop()
        rt.loop.call_soon_threadsafe(rt.loop.stop)
        rt.thread.join(5)
    reports = [r.getMessage() for r in caplog.records if "not done after" in r.getMessage()]
    assert 2 <= len(reports) <= 4  # one per period while it waits, none once it is done
    assert reports[0].startswith("chunk owner-1 (7 names) not done after 0 s")
    assert "tasks pending" in reports[0] and " _wait" in reports[0]


async def _future(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    return loop.create_future()
