"""Identifiers survive indexing, as a specification (issue 12, item 3). Over a tiny runbook wiki:

1. a runbook that names the metric ``node_filesystem_avail_bytes`` only in its body is found by
   that metric name, and its title and snippet show identifiers exactly as written;
2. ``ERR_CONNECTION_RESET``, ``pg_stat_activity``, ``count(*)`` and ``std::vector`` keep their
   ``_``, ``*`` and ``::`` in the indexed text; Markdown emphasis is removed only where it is
   emphasis (``**bold**``, ``_em_``), never inside a word;
3. the tokenizer keeps an identifier whole and split, for documents as for queries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.embed import Embedder
from indexer.normalize import inline_plain, plain, tokenize
from indexer.search import Searcher

RUNBOOKS = {
    "disk-full.md": """---
title: Filesystem nearly full on `ci_runner` hosts
---
## Symptom
Builds fail with "No space left on device".

## Diagnostic steps
Graph `node_filesystem_avail_bytes{mountpoint="/"}` for the host and compare it with
**node_filesystem_size_bytes**. Old images are usually the cause.
""",
    "postgres-slow.md": """---
title: Slow queries on the primary database
---
## Symptom
Requests time out while the database is busy.

## Diagnostic steps
Run `SELECT count(*) FROM pg_stat_activity WHERE state = 'active';` and look for
long-running transactions. The client logs _ERR_CONNECTION_RESET_ when the pool gives up.
""",
    "cpp-crash.md": """---
title: Build agent crashes in std::vector code
---
## Symptom
The agent aborts with a `std::vector` out-of-range error after an upgrade.
""",
}


@pytest.fixture(scope="module")
def wiki(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Searcher:
    root = tmp_path_factory.mktemp("wiki")
    for name, text in RUNBOOKS.items():
        (root / name).write_text(text)
    index = root / "index"
    build_index(root, index, embedder.with_cache(root / "emb.sqlite"))
    return Searcher.open(Path(index), embedder)


def test_metric_named_only_in_the_body_finds_its_runbook(wiki: Searcher) -> None:
    result = wiki.search("node_filesystem_avail_bytes").results[0]
    assert result.article.id == "disk-full"
    assert result.article.title == "Filesystem nearly full on ci_runner hosts"
    assert "<mark>node_filesystem_avail_bytes</mark>" in result.snippet


def test_identifiers_keep_their_punctuation_in_snippets(wiki: Searcher) -> None:
    result = wiki.search("pg_stat_activity").results[0]
    assert result.article.id == "postgres-slow"
    assert "count(*)" in result.snippet and "<mark>pg_stat_activity</mark>" in result.snippet
    assert wiki.search("ERR_CONNECTION_RESET").results[0].article.id == "postgres-slow"
    assert wiki.search("std::vector").results[0].article.title == \
        "Build agent crashes in std::vector code"


def test_emphasis_goes_only_where_it_is_emphasis() -> None:
    text = plain("Compare **node_filesystem_size_bytes** with _free_ space; a*b*c; `count(*)`;\n"
                 "see [the docs](https://example.org/x_y) and <b>ERR_CONNECTION_RESET</b>.")
    assert text == ("Compare node_filesystem_size_bytes with free space; abc; count(*);\n"
                    "see the docs and ERR_CONNECTION_RESET .")
    assert inline_plain("Fix `pg_stat_activity` *now*") == "Fix pg_stat_activity now"
    assert "SELECT * FROM t_x;" in plain("```sql\nSELECT * FROM t_x;\n```")


@pytest.mark.parametrize(("text", "whole", "parts"), [
    ("node_filesystem_avail_bytes", "node_filesystem_avail_bytes", ["filesystem", "avail"]),
    ("ERR_CONNECTION_RESET", "err_connection_reset", ["err", "connect", "reset"]),
    ("std::vector", "std::vector", ["std", "vector"]),
])
def test_tokens_are_whole_and_split(text: str, whole: str, parts: list[str]) -> None:
    tokens = tokenize(f"the {text} value")
    assert whole in tokens and all(p in tokens for p in parts)
