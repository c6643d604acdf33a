"""The compute pool that runs searches off the event loop.

1. Work runs on the pool's own thread and its result (or exception) comes back to the awaiting
   coroutine.
2. Resumed work goes ahead of new work that was queued before it; new work keeps its order.
3. A cancelled request's queued work is skipped; closing finishes the queue and stops.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.compute import ComputePool


def test_results_and_errors_come_back() -> None:
    pool = ComputePool(1, "test")

    def boom() -> None:
        raise LookupError("no such article")

    async def main() -> tuple[str, int]:
        name = await pool.run(lambda: threading.current_thread().name)
        value = await pool.run(pow, 2, 10)
        with pytest.raises(LookupError, match="no such article"):
            await pool.run(boom)
        return name, value

    try:
        assert asyncio.run(main()) == ("fieldguide-test-0", 1024)
    finally:
        pool.close()


def test_resumed_work_goes_first_and_cancelled_work_is_skipped() -> None:
    pool = ComputePool(1, "test")
    gate = threading.Event()
    order: list[str] = []

    async def main() -> None:
        blocker = asyncio.ensure_future(pool.run(gate.wait, 10))
        await asyncio.sleep(0.05)  # the only thread is now busy
        new = [asyncio.ensure_future(pool.run(order.append, f"new{i}")) for i in range(3)]
        gone = asyncio.ensure_future(pool.run(order.append, "cancelled"))
        await asyncio.sleep(0.01)
        resumed = asyncio.ensure_future(pool.resume(order.append, "resumed"))
        await asyncio.sleep(0.01)
        gone.cancel()
        gate.set()
        await asyncio.gather(blocker, resumed, *new)

    try:
        asyncio.run(main())
    finally:
        pool.close()
    assert order == ["resumed", "new0", "new1", "new2"]


def test_close_finishes_the_queue_then_stops() -> None:
    pool = ComputePool(2, "test")
    done: list[int] = []

    async def main() -> None:
        await asyncio.gather(*(pool.run(done.append, i) for i in range(20)))

    asyncio.run(main())
    pool.close()
    assert sorted(done) == list(range(20))
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("fieldguide-test"))
    with pytest.raises(ValueError, match="at least one thread"):
        ComputePool(0)
