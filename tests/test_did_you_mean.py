""""Did you mean" through the real app on the real index (issue 17 item 6).

1. A suggestion comes only when it is much better than the query: "my laptop is super slow"
   (already answered) gets none.
2. When the query finds nothing good and its suggestion does, the suggestion's results are the
   answer, with ``showing_results_for`` saying so; the query is kept as typed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.embed import Embedder
from tests.api_support import ENGINEER, client_for, settings_for


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
           embedder: Embedder) -> Iterator[TestClient]:
    with client_for(settings_for(tmp_path_factory.mktemp("dym"), kb_index), embedder) as c:
        yield c


@pytest.mark.parametrize("query", ["my laptop is super slow", "my laptop is super slow today"])
def test_no_suggestion_when_it_is_not_much_better(client: TestClient, query: str) -> None:
    for headers in ({}, ENGINEER):
        body = client.get("/api/search", params={"q": query}, headers=headers).json()
        assert body["suggestion"] is None, (query, body["suggestion"])
        assert body["showing_results_for"] is None


def test_a_query_that_finds_nothing_shows_its_suggestions_results(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "pasword resett"}).json()
    assert body["query"] == "pasword resett"
    assert body["suggestion"] == body["showing_results_for"]
    assert "password" in body["suggestion"] and "reset" in body["suggestion"]
    assert body["results"]
    assert "password" in body["results"][0]["title"].lower()

