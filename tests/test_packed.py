"""A loaded snapshot's articles keep their text compressed, and nothing else changes.

Properties proved:
1. A packed article is equal to the parsed one field by field, through ``asdict``, ``replace``,
   pickling and the snapshot's own dict form, on every article of the sample knowledge base.
2. ``Snapshot.load`` hands out packed articles, whose text takes less memory than the plain
   strings it replaces.
3. The article table is written one article per line and read back a line at a time (older
   single-line tables still load); a table cut short is an error.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from indexer.content import ContentScan
from indexer.packed import PackedArticle
from indexer.snapshot import (
    Snapshot,
    article_from_dict,
    article_to_dict,
    read_articles,
    write_articles,
)


def test_packed_articles_read_as_the_parsed_ones(kb: ContentScan) -> None:
    assert kb.articles
    for article in kb.articles:
        packed = article_from_dict(article_to_dict(article), packed=True)
        assert isinstance(packed, PackedArticle)
        assert packed == article and dataclasses.asdict(packed) == dataclasses.asdict(article)
        assert packed.body == article.body and packed.sections == article.sections
        assert pickle.loads(pickle.dumps(packed)) == article
        changed = dataclasses.replace(packed, title="Renamed")
        assert isinstance(changed, PackedArticle) and changed.title == "Renamed"
        assert changed.sections == article.sections
        assert article_to_dict(packed) == article_to_dict(article)
        with pytest.raises(dataclasses.FrozenInstanceError):
            packed.body = "changed"


def test_a_loaded_snapshot_holds_packed_text(kb_index: Path) -> None:
    snapshot = Snapshot.load(kb_index)
    assert snapshot.articles and all(isinstance(a, PackedArticle) for a in snapshot.articles)
    plain = sum(len(a.body.encode()) + sum(len(s.text.encode()) for s in a.sections)
                for a in snapshot.articles)
    packed = sum(a.packed_size() for a in snapshot.articles if isinstance(a, PackedArticle))
    assert packed < 0.75 * plain  # the sample articles are short: ~0.6 (officedocs: ~0.25)


def test_the_article_table_is_read_a_line_at_a_time(kb: ContentScan, tmp_path: Path) -> None:
    path = tmp_path / "articles.json"
    write_articles(path, kb.articles)
    lines = path.read_text().splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == len(kb.articles) + 2
    assert read_articles(path) == kb.articles
    assert json.loads(path.read_text()) == json.loads(json.dumps([article_to_dict(a)
                                                             for a in kb.articles]))
    # A snapshot written before this layout: one line, parsed whole.
    path.write_text(json.dumps([article_to_dict(a) for a in kb.articles]))
    assert read_articles(path) == kb.articles
    # A table cut short (a disk that filled mid-write) is an error, never a shorter table.
    write_articles(path, kb.articles)
    path.write_text("\n".join(path.read_text().splitlines()[:-2]) + "\n")
    with pytest.raises(ValueError, match="closing bracket"):
        read_articles(path)
