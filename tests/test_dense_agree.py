"""The dense leg's chunk agreement (``LegHit.agree``) and the fusion evidence it becomes.

An article about the query matches it in several of its chunks; a chance hit matches one line.
The share of an article's chunks within ``AGREE_MARGIN`` of its best cosine says which, the
same on a flat and an HNSW index, and only among the chunks the caller may read.
"""

from __future__ import annotations

import numpy as np
import pytest

from indexer.calibrated import NAMES, candidates
from indexer.legs.dense import AGREE_MARGIN, DenseLeg, FaissKind
from indexer.normalize import QueryShape
from indexer.query import PreparedQuery


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


QUERY = unit(1, 0, 0)
# Article 0: three chunks all about the query. Article 1: one close chunk, three about other
# things. Article 2: nothing close.
CHUNKS = [(0, unit(1, 0.05, 0)), (0, unit(1, 0.1, 0)), (0, unit(1, 0, 0.1)),
          (1, unit(1, 0.02, 0)), (1, unit(0, 1, 0)), (1, unit(0, 0, 1)), (1, unit(0, 1, 1)),
          (2, unit(0.3, 1, 0))]


@pytest.mark.parametrize("kind", [FaissKind.FLAT, FaissKind.HNSW])
def test_agreement_is_the_share_of_chunks_near_the_best(kind: FaissKind) -> None:
    leg = DenseLeg.build(np.stack([v for _, v in CHUNKS]), [d for d, _ in CHUNKS], 3, kind)
    hits = {h.doc: h for h in leg.search(PreparedQuery.from_text("q").with_vector(QUERY), 3,
                                         None)}
    assert hits[0].agree == 1.0
    assert hits[1].agree == 0.25  # its best chunk only
    assert hits[2].agree == 1.0  # one chunk: trivially its own best
    sims = np.stack([v for d, v in CHUNKS if d == 0]) @ QUERY
    assert sims.max() - sims.min() < AGREE_MARGIN


def test_agreement_is_evidence_of_the_fusion() -> None:
    leg = DenseLeg.build(np.stack([v for _, v in CHUNKS]), [d for d, _ in CHUNKS], 3)
    hits = leg.search(PreparedQuery.from_text("q").with_vector(QUERY), 3, None)
    empty = [frozenset[str]()] * 3
    cands = candidates(QueryShape(words=1, identifiers=0, question=False), ("q",),
                       {"dense": hits}, set(), empty, empty)
    col = NAMES.index("den_agree")
    row = {doc: cands.x[i] for i, doc in enumerate(cands.docs)}
    assert row[0][col] == 1.0 and row[1][col] == 0.25


def test_agreement_never_counts_on_unreadable_articles() -> None:
    leg = DenseLeg.build(np.stack([v for _, v in CHUNKS]), [d for d, _ in CHUNKS], 3)
    allowed = np.array([False, True, True])
    hits = leg.search(PreparedQuery.from_text("q").with_vector(QUERY), 3, allowed)
    assert {h.doc for h in hits} == {1, 2}
