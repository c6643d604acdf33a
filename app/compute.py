"""Thread pools that run searches off the event loop: their Python half (``compute``) and their
dense leg, native code that releases the GIL (``vectors``). Work that waits on the database
(chat turns, reviews) stays on Starlette's pool, so that no wait holds up a search.

A search holds the GIL for most of its few milliseconds. In Starlette's default pool of 40
threads, eight concurrent searches took turns on the GIL every few microseconds, and those
handoffs cost more CPU than the searches (officedocs, 8 clients: 6.2 ms of server CPU per search,
against 4.4 ms one at a time). A pool of one thread keeps the waiting requests in a queue
instead, where they cost nothing, and the dense leg runs on a second pool meanwhile.

Work of a request already under way (``resume``: a search back from its dense leg) goes ahead of
new requests (``run``), so a search that needed the dense leg does not queue twice.

    >>> pool = ComputePool(threads=1)
    >>> plan = await pool.run(searcher.plan, "ORA-12154")
    >>> response = await pool.resume(searcher.finish, plan)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
_Job = tuple[int, int, Callable[[], Any] | None, "asyncio.Future[Any] | None",
             "asyncio.AbstractEventLoop | None"]
_NEW, _RESUMED, _STOP = 1, 0, 2  # queue order: resumed work first, the stop signal last


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled: the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class ComputePool:
    def __init__(self, threads: int, name: str = "compute") -> None:
        if threads < 1:
            raise ValueError("a compute pool needs at least one thread")
        self.threads = threads
        self._queue: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()  # first in, first out within a priority
        self._workers = [threading.Thread(target=self._work, name=f"fieldguide-{name}-{i}",
                                          daemon=True) for i in range(threads)]
        for worker in self._workers:
            worker.start()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a pool thread, after the work queued before it; its
        exception, if any, raised here."""
        return await self._submit(_NEW, functools.partial(fn, *args, **kwargs))

    async def resume(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """The same, ahead of every new request's work."""
        return await self._submit(_RESUMED, functools.partial(fn, *args, **kwargs))

    async def _submit(self, priority: int, job: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((priority, next(self._order), job, future, loop))
        return await future

    def _work(self) -> None:
        while True:
            _, _, job, future, loop = self._queue.get()
            if job is None or future is None or loop is None:
                return
            if future.done():
                continue
            try:
                value, error = job(), None
            except BaseException as exc:  # handed to the awaiting request, as run_in_executor does
                value, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop closed while this ran
                loop.call_soon_threadsafe(_settle, future, value, error)

    def close(self) -> None:
        """Finish the queued work, then stop the threads."""
        for _ in self._workers:
            self._queue.put((_STOP, next(self._order), None, None, None))
        for worker in self._workers:
            worker.join(timeout=30)
