"""A loaded snapshot's articles keep their text compressed, and nothing else changes.

Properties proved:
1. A packed article is equal to the parsed one field by field, through ``asdict``, ``replace``,
   pickling and the snapshot's own dict form, on every article of the sample knowledge base.
2. ``Snapshot.load`` hands out packed articles, whose text takes less memory than the plain
   strings it replaces.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from indexer.content import ContentScan
from indexer.packed import PackedArticle
from indexer.snapshot import Snapshot, article_from_dict, article_to_dict


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
