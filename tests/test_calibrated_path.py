"""Path evidence of the calibrated fusion (``indexer/calibrated.py``).

1. An article's path is tokenised folder by folder and file name, like any text: the service a
   wiki files a page under is a word of its own (``web-pages`` whole and split).
2. A candidate whose path holds the query's content words gets that share as evidence, and the
   log of their count; a candidate whose path does not gets none. Stop words never count.
"""

from __future__ import annotations

import math

from indexer.calibrated import NAMES, candidates, path_tokens
from indexer.legs import LegHit
from indexer.normalize import QueryShape, tokenize


def test_path_tokens_split_folders_and_file_name() -> None:
    tokens = path_tokens("docs/web-pages/README.md")
    assert {"web-pages", "web", "page"} <= tokens
    assert "md" not in tokens and not any(t.endswith(".md") for t in tokens)


def test_candidates_carry_path_overlap() -> None:
    query = tokenize("the web pages service is failing")
    paths = [path_tokens("docs/web-pages/README.md"), path_tokens("docs/sidekiq/README.md")]
    titles = [frozenset(tokenize("Web-pages Service")), frozenset(tokenize("Sidekiq Service"))]
    rankings = {"lexical": [LegHit(1, 9.0), LegHit(0, 8.0)]}
    cands = candidates(QueryShape(words=6, identifiers=0, question=False), tuple(query),
                       rankings, set(), titles, paths)
    row = {doc: cands.x[i] for i, doc in enumerate(cands.docs)}
    overlap, shared = NAMES.index("path_overlap"), NAMES.index("path_log_shared")
    content = {"web", "page", "servic", "fail"}  # "the", "is" are stop words
    assert row[0][overlap] == 2 / len(content)  # web, page
    assert math.isclose(row[0][shared], math.log1p(2))
    assert row[1][overlap] == 0.0 and row[1][shared] == 0.0
