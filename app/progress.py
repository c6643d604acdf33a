"""Progress of long CLI work: a tqdm bar on a terminal, plain lines otherwise (CI logs, journald).

    >>> with EmbedProgress(sys.stderr) as progress:
    ...     build_index(content, index, embedder, progress=progress)
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm

LINE_EVERY_S = 15.0  # plain lines: at most one per this many seconds (and at 10% steps)


class EmbedProgress:
    """``progress(done, total)`` for ``Embedder.encode_documents``: chunks embedded, chunks/s and
    the time left. Silent when nothing needs embedding (a warm cache)."""

    def __init__(self, stream: TextIO, what: str = "embedding chunks") -> None:
        self.stream = stream
        self.what = what
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._bar: Any = None
        self._started = 0.0
        self._last_line = 0.0
        self._last_step = -1

    def __call__(self, done: int, total: int) -> None:
        if total == 0:
            return
        if self.tty:
            if self._bar is None:
                self._bar = tqdm(total=total, desc=self.what, unit="chunk", file=self.stream,
                                 dynamic_ncols=True, smoothing=0.1)
            self._bar.update(done - self._bar.n)
            return
        now = time.monotonic()
        if done == 0:
            self._started = self._last_line = now
            print(f"{self.what}: {total:,} to embed", file=self.stream, flush=True)
            return
        step = 10 * done // total
        if done < total and step == self._last_step and now - self._last_line < LINE_EVERY_S:
            return
        self._last_step, self._last_line = step, now
        rate = done / max(now - self._started, 1e-9)
        left = (total - done) / rate if rate > 0 else 0.0
        print(f"{self.what}: {done:,}/{total:,} ({100 * done / total:.0f}%), "
              f"{rate:.0f} chunks/s, {_duration(left)} left", file=self.stream, flush=True)

    def __enter__(self) -> EmbedProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.close()


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
