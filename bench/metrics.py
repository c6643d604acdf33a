"""Ranking metrics: nDCG@k, MRR@k, recall@1 and recall@k over queries with relevant paths."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def score_run(queries: Sequence[Mapping[str, Any]], run: Mapping[str, Sequence[str]],
              k: int = 10) -> dict[str, float]:
    n = ndcg = mrr = r1 = rk = 0.0
    for q in queries:
        rel = set(q.get("relevant") or [])
        if not rel:
            continue
        got = list(run.get(q["id"], []))[:k]
        dcg = sum(1 / math.log2(i + 2) for i, p in enumerate(got) if p in rel)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
        ndcg += dcg / idcg
        first = next((i for i, p in enumerate(got) if p in rel), None)
        mrr += 1 / (first + 1) if first is not None else 0
        r1 += first == 0
        rk += len(set(got) & rel) / len(rel)
        n += 1
    if not n:
        return {"n": 0}
    return {"n": int(n), "ndcg@10": ndcg / n, "mrr@10": mrr / n, "r@1": r1 / n, "r@10": rk / n}
