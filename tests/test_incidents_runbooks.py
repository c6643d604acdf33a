"""Alert -> runbook: the three ways, said which, with a floor on the search way (issue 13)."""

from __future__ import annotations

from incidents.config import DEFAULT_SEARCH_FLOOR
from incidents.runbooks import How, RunbookIndex, RunbookResolver
from indexer.search import Searcher

PUBLIC = "https://kb.example"


def resolver(searcher: Searcher) -> RunbookResolver:
    index = RunbookIndex(searcher.articles(), public_url=PUBLIC)
    return RunbookResolver(index, search=searcher.run, floor=DEFAULT_SEARCH_FLOOR)


def test_runbook_url_of_this_service_wins(searcher: Searcher) -> None:
    r = resolver(searcher).resolve_parts(
        "SomethingElse", f"{PUBLIC}/articles/argocd-app-outofsync", "", {})
    assert r.runbook is not None and r.runbook.how is How.RUNBOOK_URL
    assert r.runbook.article.id == "argocd-app-outofsync" and not r.broken_url


def test_a_url_ending_in_the_article_path_is_the_article(searcher: Searcher) -> None:
    url = "https://runbooks.example/engineering/argocd-app-outofsync.md"
    r = resolver(searcher).resolve_parts("Other", url, "", {})
    assert r.runbook is not None and r.runbook.article.id == "argocd-app-outofsync"


def test_exact_alertname_then_broken_url_is_flagged(searcher: Searcher) -> None:
    r = resolver(searcher).resolve_parts(
        "ArgoCdAppSyncFailed", "https://wiki.example/nothing/here", "", {})
    assert r.runbook is not None and r.runbook.how is How.ALERT
    assert r.runbook.article.id == "argocd-app-outofsync" and r.broken_url


def test_search_keeps_only_confident_runbooks(searcher: Searcher) -> None:
    res = resolver(searcher)
    uncovered = res.resolve_parts("EtcdNoLeader", None, "etcd cluster has no leader", {})
    assert uncovered.runbook is None  # below the floor: no runbook is better than a wrong one
    covered = res.resolve_parts(
        "ArgoAppDrift", None, "Argo CD application is out of sync with its git repository", {})
    assert covered.runbook is not None and covered.runbook.how is How.SEARCH
    assert covered.runbook.article.id == "argocd-app-outofsync"
    assert covered.runbook.confidence is not None
    assert covered.runbook.confidence >= DEFAULT_SEARCH_FLOOR
