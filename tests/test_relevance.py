"""Relevance, as a specification. Over the sample knowledge base in content/, the searcher:

1. ranks the runbook of an exact alert name first, whatever else the query says;
2. finds the article of an error pasted inside a noisy log line (timestamp, request id, pod hash);
3. finds an article through a typo'd query;
4. ranks the article of an exact error code first;
5. answers a question in the user's own words with the matching end-user article;
6. never returns an engineer-only article to an end-user-only caller, whatever the query;
7. honours the service and tag filters;
8. marks the matched terms in an HTML-safe snippet and says which legs matched.
"""

from __future__ import annotations

import pytest

from indexer.article import Audience
from indexer.search import Searcher


def top_ids(searcher: Searcher, query: str, **kwargs: object) -> list[str]:
    return [r.article.id for r in searcher.search(query, **kwargs).results]  # type: ignore[arg-type]


@pytest.mark.parametrize(("alert", "expected"), [
    ("KubePodOOMKilled", "kubernetes-pod-oomkilled"),
    ("PostgresTooManyConnections", "postgres-too-many-clients"),
    ("TLSCertificateExpired", "tls-certificate-expired"),
    ("[FIRING:3] KafkaOfflinePartitions (data-prod critical) 2 partitions offline",
     "kafka-not-leader-for-partition"),
])
def test_exact_alert_name_ranks_its_runbook_first(searcher: Searcher, alert: str,
                                                   expected: str) -> None:
    response = searcher.search(alert)
    assert response.results[0].article.id == expected
    assert response.results[0].pinned


def test_pasted_log_line_finds_the_article_of_its_error(searcher: Searcher) -> None:
    line = ("2026-11-27T02:14:07.392Z ERROR [payments-api-7d9f8b6c5-x2kqz] "
            "request_id=8f14e45fceea167a5a36dedd4bea2543 trace_id=3f9a1c22b7d84e0f "
            "HikariPool-1 - Connection is not available, request timed out after 30000ms.")
    assert top_ids(searcher, line)[0] == "hikari-connection-pool-exhausted"


def test_pasted_stack_trace_finds_the_article_of_its_exception(searcher: Searcher) -> None:
    trace = """Exception in thread "main" java.lang.OutOfMemoryError: Java heap space
        at java.util.Arrays.copyOf(Arrays.java:3332)
        at com.brightwater.payments.ledger.Export.run(Export.java:88)"""
    assert top_ids(searcher, trace)[0] == "java-heap-outofmemoryerror"


@pytest.mark.parametrize(("query", "expected"), [
    ("crashloopbakoff", "kubernetes-pod-crashloopbackoff"),
    ("imagepulbackoff pod", "kubernetes-imagepullbackoff"),
    ("bitlocker recovry key", "bitlocker-recovery-key"),
])
def test_typo_still_finds_the_article(searcher: Searcher, query: str, expected: str) -> None:
    assert expected in top_ids(searcher, query, limit=3)


def test_exact_error_code_ranks_first(searcher: Searcher) -> None:
    assert top_ids(searcher, "AADSTS50011")[0] == "saml-aadsts50011-reply-url-mismatch"
    assert top_ids(searcher, "SQLSTATE 53300")[0] == "postgres-too-many-clients"


def test_question_in_own_words_finds_end_user_article(searcher: Searcher) -> None:
    ids = top_ids(searcher, "I got a new phone, how do I move my authenticator app?",
                  audiences=[Audience.END_USER])
    assert ids[0] == "mfa-new-phone"


@pytest.mark.parametrize("query", [
    "KubePodOOMKilled", "Payment service returns 503", "HikariPool-1 connection not available",
    "x509: certificate has expired", "kafka", "password", "",
])
def test_end_user_filter_never_returns_engineer_articles(searcher: Searcher, query: str) -> None:
    for result in searcher.search(query or "help", audiences=[Audience.END_USER], limit=50).results:
        assert Audience.END_USER in result.article.audience


def test_service_and_tag_filters(searcher: Searcher) -> None:
    results = searcher.search("connection problems", services=["vpn"], limit=50).results
    assert results and all("vpn" in r.article.services for r in results)
    none = searcher.search("connection problems", services=["no-such-service"]).results
    assert none == []


def test_snippet_is_html_safe_and_marks_terms(searcher: Searcher) -> None:
    result = searcher.search("<script>alert(1)</script> Hikari connection pool").results[0]
    assert "<script>" not in result.snippet
    assert "<mark>" in result.snippet
    assert "lexical" in result.matched["legs"]


@pytest.mark.parametrize("query", ["asdkjh qwe zzz", "how do I bake sourdough bread", "the of and"])
def test_nonsense_gets_no_results_and_no_weak_matches(searcher: Searcher, query: str) -> None:
    assert searcher.search(query).results == []


def test_did_you_mean_for_a_misspelled_query(searcher: Searcher) -> None:
    response = searcher.search("bitlokcer recovery")
    assert response.suggestion is not None
    assert "bitlocker" in response.suggestion.lower()


def test_tokenizer_is_safe_under_concurrent_searches() -> None:
    """The stemmer is stateful; concurrent searches once corrupted it (IndexError under load)."""
    import random
    import string
    from concurrent.futures import ThreadPoolExecutor

    from indexer.normalize import tokenize

    rng = random.Random(7)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 12))) + suffix
             for suffix in ("ing", "ational", "ness", "ies", "ed") for _ in range(3000)]
    chunks = [" ".join(words[i::8]) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(tokenize, chunks))
    assert concurrent == [tokenize(c) for c in chunks]
