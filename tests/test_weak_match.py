"""The weak-match state of a search, through the real app on the sample knowledge base.

1. A query the knowledge base answers is not a weak match; one it does not cover ("parking
   permit": a few loosely related hits) is, though it still returns those hits.
2. The HTTP answer carries ``weak_match`` (GET and POST alike), additive to the contract.
3. A weak-match search counts as a zero-result search: its event has the zero-result flag and
   its query reaches ``top_zero_result_queries``, the missing-article backlog.
4. The threshold reads the answer model's confidence and is the model file's (both fitted by
   ``bench/answer_model.py``); a model file without an answer model is refused with the command
   that writes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.models import SearchEventRow
from indexer.calibrated import MODEL_PATH, FusionModel, load_model
from indexer.embed import Embedder
from indexer.search import Searcher
from tests.api_support import ADMIN, client_for, settings_for

COVERED = "VPN won't connect"
UNCOVERED = "how do I apply for a parking permit"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
           embedder: Embedder) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("weak-match")
    with client_for(settings_for(data, kb_index), embedder) as c:
        yield c


def test_covered_query_is_not_weak_and_uncovered_is(searcher: Searcher) -> None:
    covered = searcher.search(COVERED)
    assert covered.results and covered.results[0].article.id == "vpn-gateway-unreachable"
    assert covered.weak_match is False
    uncovered = searcher.search(UNCOVERED)
    assert uncovered.results  # loosely related hits are still shown...
    assert uncovered.weak_match is True  # ...as "no good match"
    answer = load_model().answer
    assert answer is not None and covered.confidence is not None
    assert uncovered.confidence is not None
    assert uncovered.confidence < answer.weak_match <= covered.confidence


def test_http_answer_carries_weak_match(client: TestClient) -> None:
    good = client.get("/api/search", params={"q": COVERED}).json()
    weak = client.get("/api/search", params={"q": UNCOVERED}).json()
    assert good["weak_match"] is False and good["results"]
    assert weak["weak_match"] is True and weak["total"] > 0
    posted = client.post("/api/search", json={"q": UNCOVERED}).json()
    assert posted["weak_match"] is True


def test_weak_match_counts_as_zero_result(tmp_path: Path, kb_index: Path,
                                          embedder: Embedder) -> None:
    with client_for(settings_for(tmp_path, kb_index), embedder) as client:
        client.get("/api/search", params={"q": COVERED})
        client.get("/api/search", params={"q": UNCOVERED})
        metrics = client.get("/api/metrics/search", headers=ADMIN).json()
        sessions = client.app.state.sessions  # type: ignore[attr-defined]
        with sessions() as session:
            rows = session.scalars(select(SearchEventRow).order_by(SearchEventRow.id)).all()
    assert [(r.query, r.zero_results) for r in rows] == [(COVERED, False), (UNCOVERED, True)]
    assert rows[1].total > 0  # results were shown, and still nothing answered
    assert metrics["totals"]["zero_results"] == 1
    assert [q["query"] for q in metrics["top_zero_result_queries"]] == [UNCOVERED.lower()]


def test_model_file_carries_the_answer_model(tmp_path: Path) -> None:
    data = json.loads(MODEL_PATH.read_text())
    answer = load_model().answer
    assert answer is not None
    assert 0.0 < data["answer"]["weak_match"] < data["answer"]["chat"] < 1.0
    assert (answer.weak_match, answer.chat) == (data["answer"]["weak_match"],
                                               data["answer"]["chat"])
    assert set(data["answer"]["loco"]) == {"alerts-prometheus", "alerts-openshift",
                                           "officedocs-errors", "stackfaq", "alerts-gitlab"}
    broken = dict(data, answer=dict(data["answer"], features=data["answer"]["features"][:-1]))
    with pytest.raises(ValueError, match=r"bench/answer_model\.py"):
        FusionModel.from_json(json.dumps(broken))
    del data["answer"]
    with pytest.raises(ValueError, match=r"bench/answer_model\.py"):
        FusionModel.from_json(json.dumps(data))
