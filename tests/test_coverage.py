"""Runbook coverage (issue 13, item 5). What this proves:

1. On the REAL rule files of two runbook corpora (kube-prometheus ``PrometheusRule`` manifests,
   GitLab's ``groups:`` files) against those corpora, every ``runbook_url`` that names one of its
   runbooks (the corpus' own extract says which, in ``runbook_file``) is found, by
   ``runbook_url``; every other alert is listed as a gap.
2. The JSON exports of the same rules read to the same alerts as the YAML.
3. YAML is read safely: an alias, a file over the size limit and broken YAML are each refused
   with file:line, and the other files are still read.
4. Received alerts (``incident_alerts``, SQLite and PostgreSQL) are judged against today's
   articles: a runbook that is gone is a broken URL, a searched runbook that exists stays.
5. ``fieldguide coverage --json`` prints the contract's objects; ``GET /api/coverage`` and the
   page need an engineer key and escape what alerts carry.
6. The freshness job's weekly team summary carries the team's coverage line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.cli import main
from freshness.job import Job, received_coverage
from freshness.notify import SlackWebhookNotifier
from freshness.policy import Status
from incidents.coverage import (
    MAX_RULE_FILE_BYTES,
    Problem,
    build_coverage,
    cover_received,
    load_rules,
    received_rows,
)
from incidents.models import AlertSeenRow
from incidents.runbooks import How, RunbookIndex, RunbookResolver
from indexer.content import ContentScan, scan_content
from indexer.embed import Embedder
from indexer.teams import TeamsConfig
from tests.api_support import ENGINEER, assert_error, client_for, settings_for
from tests.test_freshness_job import NOW
from tests.test_freshness_notify import Receiver

ROOT = Path(__file__).resolve().parent.parent


def _shared() -> Path | None:
    for candidate in (os.environ.get("FIELDGUIDE_SHARED"), ROOT.parent / "shared",
                      ROOT.parent.parent / "shared"):
        if candidate and (Path(candidate) / "corpora").is_dir():
            return Path(candidate)
    return None


SHARED = _shared()
needs_shared = pytest.mark.skipif(SHARED is None, reason="the shared corpora (../shared/corpora) "
                                  "are not on this machine; set FIELDGUIDE_SHARED")
CORPORA = [("prometheus-operator-runbooks", "raw-queries/kube-prometheus",
            "raw-queries/kube-prometheus-alert-rules.json"),
           ("gitlab-com-runbooks", "raw-queries/rules", "raw-queries/gitlab-alert-rules.json")]


# -- 1, 2. the real rule files ---------------------------------------------------------------

@needs_shared
@pytest.mark.parametrize(("corpus", "rules", "extract"), CORPORA)
def test_every_resolvable_runbook_url_is_found_the_rest_are_gaps(
        corpus: str, rules: str, extract: str) -> None:
    assert SHARED is not None
    root = SHARED / "corpora" / corpus
    scan = scan_content(root / "articles")
    loaded = load_rules([root / rules])
    assert loaded.issues == [] and loaded.files > 0
    items = build_coverage(scan.articles, TeamsConfig(), lambda _id: Status.FRESH,
                           declared=loaded.alerts)
    by_key = {(i.alert, i.runbook_url): i for i in items}
    id_of = {a.path: a.id for a in scan.articles}
    truth = json.loads((root / extract).read_text())
    found = gaps = 0
    for rule in truth:
        item = by_key[(rule["alert"], rule["runbook_url"])]
        if rule["runbook_file"]:
            assert item.runbook == id_of[rule["runbook_file"]], rule["alert"]
            assert item.how is How.RUNBOOK_URL and item.problem is None
            found += 1
        else:
            assert item.problem in (Problem.NO_RUNBOOK, Problem.BROKEN_URL), rule["alert"]
            gaps += 1
    assert found and gaps  # both sides are exercised on both corpora
    assert len(items) == len(by_key)


@needs_shared
def test_json_exports_read_as_the_yaml_does() -> None:
    assert SHARED is not None
    root = SHARED / "corpora/prometheus-operator-runbooks/raw-queries"
    from_yaml = load_rules([root / "kube-prometheus"]).alerts
    from_json = load_rules([root / "kube-prometheus-alert-rules.json"]).alerts
    assert [(a.alert, a.runbook_url) for a in from_yaml] == [
        (a.alert, a.runbook_url) for a in from_json]
    assert all(":" in a.where and a.where.split(":")[-1].isdigit() for a in from_yaml)


# -- 3. safe loading -------------------------------------------------------------------------

RULE = """groups:
- name: demo
  rules:
  - alert: ArgoCdAppSyncFailed
    expr: up == 0
    annotations:
      summary: sync failed
      runbook_url: https://kb.example/articles/argocd-app-outofsync
"""


def test_aliases_huge_and_broken_files_are_refused_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(RULE)
    (tmp_path / "alias.yaml").write_text(
        "groups:\n- name: a\n  rules:\n  - &r {alert: A, expr: x}\n  - *r\n")
    (tmp_path / "broken.yml").write_text("groups:\n- name: [unclosed\n")
    big = tmp_path / "big.yml"
    with big.open("w") as f:
        f.write("# " + "x" * 1000 + "\n")
        f.truncate(MAX_RULE_FILE_BYTES + 1)
    (tmp_path / "notes.txt").write_text("not a rule file")
    loaded = load_rules([tmp_path])
    assert [a.alert for a in loaded.alerts] == ["ArgoCdAppSyncFailed"]
    issues = {Path(i.path).name: i for i in loaded.issues}
    assert set(issues) == {"alias.yaml", "broken.yml", "big.yml"}
    assert issues["alias.yaml"].line == 5 and "alias" in issues["alias.yaml"].message
    assert issues["broken.yml"].line == 3
    assert "limit" in issues["big.yml"].message
    assert str(issues["alias.yaml"]).startswith(f"{tmp_path / 'alias.yaml'}:5: ")
    with pytest.raises(FileNotFoundError):
        load_rules([tmp_path / "missing.yml"])


def test_cli_json_contract_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDGUIDE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FIELDGUIDE_PUBLIC_URL", "https://kb.example")
    (tmp_path / "rules.yml").write_text(RULE + """  - alert: NothingCoversThis
    expr: up == 0
  - alert: PointsNowhere
    expr: up == 0
    annotations: {runbook_url: "https://wiki.example/gone"}
  - record: job:up:sum
    expr: sum(up)
""")
    assert main(["coverage", "--rules", str(tmp_path / "rules.yml"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["alert"] for r in rows] == ["ArgoCdAppSyncFailed", "NothingCoversThis",
                                          "PointsNowhere"]
    assert {"alert", "source", "runbook_url", "runbook", "how", "freshness", "problem"} <= set(rows[0])
    assert rows[0]["runbook"] == "argocd-app-outofsync" and rows[0]["how"] == "runbook_url"
    assert rows[0]["source"] == "rules" and rows[0]["freshness"] in [s.value for s in Status]
    assert rows[1]["problem"] == "no-runbook" and rows[2]["problem"] == "broken-runbook-url"
    (tmp_path / "alias.yml").write_text("groups: &g []\nother: *g\n")
    assert main(["coverage", "--rules", str(tmp_path / "alias.yml")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'alias.yml'}:2: YAML alias" in err


def test_cli_search_finds_a_runbook_the_exact_ways_miss(
        tmp_path: Path, kb_index: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDGUIDE_DATA_DIR", str(tmp_path / "var"))
    (tmp_path / "rules.yml").write_text("""groups:
- name: demo
  rules:
  - alert: ArgoAppDrift
    expr: x
    annotations: {summary: "Argo CD application is out of sync with its git repository"}
  - alert: EtcdNoLeader
    expr: x
    annotations: {summary: "etcd cluster has no leader"}
""")
    assert main(["coverage", "--index", str(kb_index), "--search", "--json",
                 "--rules", str(tmp_path / "rules.yml")]) == 0
    rows = {r["alert"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["ArgoAppDrift"]["how"] == "search"
    assert rows["ArgoAppDrift"]["runbook"] == "argocd-app-outofsync"
    assert rows["EtcdNoLeader"]["problem"] == "no-runbook"


# -- 4. received alerts ----------------------------------------------------------------------

def _received(engine: Engine, kb: ContentScan) -> None:
    ts = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    rows = [
        dict(alertname="ArgoCdAppSyncFailed", runbook_url=None, runbook_id="argocd-app-outofsync",
             how="alert", team="platform"),
        dict(alertname="OldArticleAlert", runbook_url="https://kb.example/articles/was-deleted",
             runbook_id="was-deleted", how="runbook_url", team="platform"),
        dict(alertname="Searched", runbook_url=None, runbook_id="argocd-app-outofsync",
             how="search", team="network"),
        dict(alertname="<script>alert(1)</script>", runbook_url=None, runbook_id=None, how=None,
             team="network"),
    ]
    with Session(engine) as s:
        for n, row in enumerate(rows):
            s.add(AlertSeenRow(key_hash=f"k{n}", fingerprint=f"f{n}", status="firing",
                               labels={}, last_seen=ts, **row))
        s.commit()


def test_received_alerts_are_judged_against_todays_articles(engine: Engine, kb: ContentScan) -> None:
    _received(engine, kb)
    with Session(engine) as s:
        rows = received_rows(s)
    resolver = RunbookResolver(RunbookIndex(kb.articles, "https://kb.example"))
    items = {i.alert: i for i in cover_received(rows, resolver, lambda _id: Status.FRESH,
                                                kb.teams)}
    assert items["ArgoCdAppSyncFailed"].problem is None
    assert items["ArgoCdAppSyncFailed"].how is How.ALERT
    assert items["OldArticleAlert"].problem is Problem.BROKEN_URL
    assert items["Searched"].runbook == "argocd-app-outofsync"
    assert items["Searched"].how is How.SEARCH and items["Searched"].team == "network"
    assert items["<script>alert(1)</script>"].problem is Problem.NO_RUNBOOK
    assert all(i.source == "received" for i in items.values())


def test_weekly_summary_carries_the_coverage_line(engine: Engine, kb: ContentScan) -> None:
    _received(engine, kb)
    with Session(engine) as s:
        assert received_coverage(s, {"argocd-app-outofsync": Status.FRESH}) == {
            "platform": (1, 2), "network": (1, 2)}
        with Receiver() as slack:
            Job(kb.teams, notifiers=[SlackWebhookNotifier(slack.url)],
                public_url="https://kb.example").run(s, kb.articles, NOW, notify=True)
            summaries = {b["channel"]: b["text"] for b in slack.bodies
                         if "weekly summary" in b["text"]}
    platform = next(t for c, t in summaries.items() if "platform" in c)
    assert "Runbook coverage: " in platform and "/2 alerts seen" in platform
    others = [t for c, t in summaries.items() if "platform" not in c and "network" not in c]
    assert others and all("Runbook coverage" not in t for t in others)


# -- 5. the API and the page -----------------------------------------------------------------

@pytest.fixture
def client(tmp_path: Path, kb_index: Path, embedder: Embedder) -> Iterator[TestClient]:
    with client_for(settings_for(tmp_path, kb_index), embedder) as c:
        yield c


def test_api_coverage_needs_an_engineer_key_and_lists_received_alerts(
        client: TestClient, kb: ContentScan) -> None:
    assert_error(client.get("/api/coverage"), 401, "unauthorized")
    assert_error(client.get("/coverage"), 401, "unauthorized")
    assert_error(client.get("/api/coverage", headers={"Authorization": "Bearer nope"}), 401,
                 "invalid_api_key")
    _received(client.app.state.engine, kb)  # type: ignore[attr-defined]
    r = client.get("/api/coverage", headers=ENGINEER)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"]["alerts"] == 4 and body["counts"]["no-runbook"] == 1
    assert body["counts"]["broken-runbook-url"] == 1
    assert set(body["teams"]) == {"platform", "network"}
    page = client.get("/coverage", headers=ENGINEER)
    assert page.status_code == 200 and "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "content-security-policy" in page.headers
