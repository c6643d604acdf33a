"""The thread pool that runs CPU-bound requests (searches, chat turns) off the event loop.

A search holds the GIL for most of its few milliseconds. In Starlette's default pool of 40
threads, eight concurrent searches took turns on the GIL every few microseconds, and those
handoffs cost more CPU than the searches (officedocs, 8 clients: 6.2 ms of server CPU per search,
against 4.4 ms one at a time). A pool of about one thread per core keeps the waiting requests in
the event loop's queue instead, where they cost nothing, while the parts of a search that release
the GIL (ONNX Runtime, rapidfuzz, numpy) still overlap with another search.

    >>> pool = ComputePool(threads=2)
    >>> body = await pool.run(run_search, request, caller, params)
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ComputePool:
    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("a compute pool needs at least one thread")
        self.threads = threads
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="fieldguide-compute")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a pool thread; its exception, if any, raised here."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
