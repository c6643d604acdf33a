"""Facets: how many of a search's results carry each service and each tag.

Counted over every result of the query (not one page), after the caller's audience and the
filters already applied, so a facet never counts an article the caller may not see and picking
one narrows to exactly that many results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from indexer.article import Article

# The values shown per facet: the most frequent, then by name (a panel row, not a report).
FACET_VALUES = 8


@dataclass(frozen=True)
class Facets:
    """``services`` and ``tags`` as ``(value, results)`` pairs, most frequent first.

        >>> Facets.count(articles).services
        (('vpn', 4), ('wifi', 2))
    """

    services: tuple[tuple[str, int], ...] = ()
    tags: tuple[tuple[str, int], ...] = ()

    @classmethod
    def count(cls, articles: Iterable[Article], top: int = FACET_VALUES) -> Facets:
        services: Counter[str] = Counter()
        tags: Counter[str] = Counter()
        for article in articles:
            services.update(set(article.services))  # an article counts once per value
            tags.update(set(article.tags))
        return cls(_best(services, top), _best(tags, top))


def _best(counts: Counter[str], top: int) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top])
