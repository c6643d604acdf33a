"""The search legs and the contract they share (``Leg``).

Each leg has a stable ``name`` (used in ``explain`` output, the fusion model's features and the
ablation table), answers a ``PreparedQuery`` with its best documents, and saves itself into and
loads itself from a snapshot's version directory. The snapshot keeps them by name
(``indexer.snapshot.LEG_TYPES`` is the registry, in the order a search runs them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol, Self

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from indexer.query import PreparedQuery

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
    # The dense leg: the share of the article's chunks nearly as close to the query as its best
    # one (an article about the query matches it in several places, a chance hit in one).
    agree: float = 0.0


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


class Leg(Protocol):
    """What the searcher and the snapshot need of a leg."""

    name: ClassVar[str]

    def search(self, query: PreparedQuery, k: int, allowed: Mask | None) -> list[LegHit]:
        """The ``k`` best documents among the ``allowed`` ones (None: all), best first."""
        ...

    def save(self, directory: Path) -> None:
        """Write the leg's files into a snapshot's version directory."""
        ...

    @classmethod
    def load(cls, directory: Path, n_docs: int) -> Self:
        """The leg saved in ``directory``, for a snapshot of ``n_docs`` articles."""
        ...
