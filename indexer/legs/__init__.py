"""The search legs. Each has a stable ``name`` used in ``explain`` output and the ablation table."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]


class TagMatch(NamedTuple):
    """What the tags leg matched: the kind of handle (``error_code``, ``alert``, ``service``,
    ``tag``, ``title_code``, ``alias``, ``mention``; ``-partial`` when a weak handle is only part
    of the query) and the handle as the article writes it."""

    kind: str
    label: str

    @property
    def field(self) -> str | None:
        """The ``matched`` key of a search result this match is reported under, if any."""
        return _MATCHED_FIELD.get(self.kind.removesuffix("-partial"))


_MATCHED_FIELD = {"error_code": "error_codes", "title_code": "error_codes", "alert": "alerts",
                  "service": "services", "tag": "tags"}


class LegHit(NamedTuple):
    """One document a leg found. (A NamedTuple, like the fusion's values: hundreds are made per
    search, and one is built in half the time of a frozen dataclass.)"""

    doc: int  # row in the snapshot's article table
    score: float
    matched: tuple[str | TagMatch, ...] = ()  # what matched: tag handles, the fuzzy string


def ranges(starts: npt.NDArray[np.int64], lens: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lens)])`` without the loop: the
    positions of a few CSR rows in their data arrays."""
    total = int(lens.sum())
    return np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total, dtype=np.int64)


def top_k(scores: npt.NDArray[np.float32], k: int, allowed: Mask | None,
          minimum: float = 0.0) -> list[tuple[int, float]]:
    """Indices and scores of the ``k`` best documents above ``minimum`` among the allowed ones."""
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf).astype(np.float32)
    n = int(scores.shape[0])
    if n == 0 or k <= 0:
        return []
    k = min(k, n)
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    idx = idx[scores[idx] > minimum]
    return list(zip(idx.tolist(), scores[idx].tolist(), strict=True))
