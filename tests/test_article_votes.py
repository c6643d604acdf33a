"""The article page's "Was this helpful?", the one ownership rule, and the trust score, through
the real app on SQLite and PostgreSQL.

Properties proved:
1. The article page, its JSON and the freshness report name the same owning team and reviewer
   (an article with no owner goes to its service's team: "unassigned (reviewed by team net)").
2. The vote is a plain form: its CSRF field is required (a missing, stale or cross-origin one is
   403 with the project's error body, or the page saying so), ``helpful`` is yes or no (422),
   a plain post is a 303 back to the article, which thanks the reader; ``Accept:
   application/json`` (the page's script) gets JSON.
3. A vote on an article the caller may not read is 404, as the article is.
4. One voter counts once (voting again replaces the answer); votes are rate-limited per client
   (429 with Retry-After).
5. Three readers' "no" (more than "yes") flag a fresh article for review: the report says so,
   the job opens a review task, the owner's digest lists it, the trust score drops; as many
   "yes" as "no" does not flag; a review answers the earlier votes.
6. The freshness page shows the trust score per team and overall as an SVG with title and desc
   and the same data as a table, with no inline style or script.
7. Lint warns (never an error) about articles without an owner, saying where reviews go.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import make_engine, session_factory
from app.main import create_app
from app.people import PersonKeys, Role
from app.settings import Settings
from freshness.digest import digests
from freshness.job import Job, _items
from freshness.models import ArticleVoteRow, ReviewTaskRow
from freshness.policy import PolicyConfig, Votes, count_votes, flagged_by_votes
from indexer.article import Severity
from indexer.build import build_index
from indexer.content import scan_content
from indexer.embed import Embedder
from indexer.teams import TeamsConfig
from tests.api_support import assert_error
from tests.test_freshness_http import article as templated

TODAY = dt.datetime.now(dt.UTC).date()
ADMIN = "admin-token-0123456789"
TEAMS_YAML = """
teams:
  desk: {name: Service Desk, email: desk@x.example, members: [ann@x.example]}
  net: {name: Network, email: net@x.example, members: [bob@x.example]}
services: {vpn: net, printing: desk}
"""


def article(aid: str, title: str, *, audience: str = "end-user", owner: str = "",
            service: str = "", reviewed: dt.date = TODAY - dt.timedelta(days=5)) -> str:
    """test_freshness_http's templated article, without the owner or service when not given,
    with its service twice among its tags (the page shows it once)."""
    text = templated(aid, title, reviewed, audience, owner or "NOBODY", service or "NONE")
    text = text.replace("owner: NOBODY\n", "").replace("services: [NONE]\n", "")
    return text.replace(f"audience: [{audience}]\n",
                        f"audience: [{audience}]\ntags: [{service or 'misc'}, {service or 'misc'}]\n")


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("votes-kb")
    content = root / "content"
    content.mkdir()
    (content / "teams.yaml").write_text(TEAMS_YAML)
    (content / "vpn-flaky.md").write_text(article(
        "vpn-flaky", "VPN keeps disconnecting", service="vpn"))
    (content / "printer-jam.md").write_text(article(
        "printer-jam", "Printer paper jam", owner="ann@x.example", service="printing"))
    (content / "orphan.md").write_text(article("orphan", "Nobody owns this page"))
    (content / "bgp-flap.md").write_text(article(
        "bgp-flap", "BGP session flapping", audience="engineer", owner="bob@x.example",
        service="vpn"))
    index = root / "index"
    build_index(content, index, embedder.with_cache(index / "embeddings.sqlite"))
    return content, index


def settings_for(kb: tuple[Path, Path], tmp_path: Path, db_url: str, **kw: Any) -> Settings:
    content, index = kb
    values: dict[str, Any] = dict(
        data_dir=tmp_path, content_dir=content, index_dir=index, database_url=db_url,
        admin_token=ADMIN, public_url="http://localhost", freshness_schedule_hours=0,
        rate_limit_per_second=0, index_poll_seconds=0, votes_per_minute=0)
    return Settings(**{**values, **kw})


@pytest.fixture
def settings(kb: tuple[Path, Path], tmp_path: Path, db_url: str) -> Settings:
    return settings_for(kb, tmp_path, db_url)


@pytest.fixture
def app(settings: Settings, embedder: Embedder) -> Iterator[FastAPI]:
    application = create_app(settings, embedder)
    with TestClient(application, base_url="http://localhost"):  # runs the lifespan
        yield application


def reader(app: FastAPI, ip: str = "198.51.100.7", **headers: str) -> TestClient:
    """One browser (its own cookies) from one address, on the running app."""
    return TestClient(app, base_url="http://localhost", client=(ip, 40000), headers=headers,
                      follow_redirects=False)


def csrf_of(client: TestClient, article_id: str) -> str:
    page = client.get(f"/articles/{article_id}", headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the vote form carries a CSRF field"
    return found.group(1)


def vote(client: TestClient, article_id: str, answer: str, token: str | None = None,
         **headers: str) -> Any:
    token = csrf_of(client, article_id) if token is None else token
    return client.post(f"/articles/{article_id}/helpful",
                       data={"csrf": token, "helpful": answer},
                       headers={"Accept": "text/html", **headers})


def report(app: FastAPI) -> dict[str, Any]:
    r = reader(app).get("/api/freshness", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def row_of(app: FastAPI, article_id: str) -> dict[str, Any]:
    return next(a for a in report(app)["articles"] if a["id"] == article_id)


def votes_in(settings: Settings) -> list[ArticleVoteRow]:
    engine = make_engine(str(settings.database_url))
    try:
        with Session(engine) as s:
            return list(s.scalars(select(ArticleVoteRow).order_by(ArticleVoteRow.id)))
    finally:
        engine.dispose()


def people(settings: Settings, *emails: str) -> list[str]:
    engine = make_engine(str(settings.database_url))
    try:
        keys = PersonKeys(session_factory(engine))
        return [keys.create(e.split("@")[0].title(), e, Role.READER).secret for e in emails]
    finally:
        engine.dispose()


# -- 1. one ownership rule -------------------------------------------------------------------
def test_page_json_and_report_resolve_the_owner_the_same_way(app: FastAPI) -> None:
    anon = reader(app)
    data = anon.get("/api/articles/vpn-flaky").json()
    assert (data["owner"], data["team"], data["reviewer"], data["assigned_because"]) == (
        None, "net", "net", "no-owner:team-of-service")
    row = row_of(app, "vpn-flaky")
    assert (row["team"], row["assignee"], row["assigned_because"]) == (
        data["team"], data["reviewer"], data["assigned_because"])
    page = anon.get("/articles/vpn-flaky", headers={"Accept": "text/html"}).text
    assert "<dt>Owner</dt><dd>unassigned (reviewed by team net)</dd>" in page
    assert "<dt>Team</dt><dd>net</dd>" in page
    assert page.count("<h1>") == 1 and page.count('<li class="tag">vpn</li>') == 1
    # An owner in a team is the reviewer; anonymous readers get their name, not the address.
    jam = anon.get("/api/articles/printer-jam").json()
    assert (jam["owner"], jam["team"], jam["reviewer"]) == ("Ann", "desk", "Ann")
    orphan = anon.get("/api/articles/orphan").json()
    assert (orphan["team"], orphan["reviewer"]) == (None, "unassigned")


# -- 2, 3. the form ---------------------------------------------------------------------------
def test_the_vote_form_works_without_script_and_is_csrf_protected(app: FastAPI,
                                                                   settings: Settings) -> None:
    browser = reader(app)
    page = browser.get("/articles/vpn-flaky", headers={"Accept": "text/html"})
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "form-action 'self'" in csp
    assert "unsafe-inline" not in csp
    assert re.findall(r"<script\b[^>]*>", page.text) == [
        '<script src="/static/article.js" defer>']
    assert " style=" not in page.text and "<style" not in page.text
    assert '<form class="vote" method="post" action="/articles/vpn-flaky/helpful">' in page.text

    # No field, a forged field, another origin: refused, nothing recorded.
    r = browser.post("/articles/vpn-flaky/helpful", data={"helpful": "no"},
                     headers={"Accept": "application/json"})
    assert_error(r, 403, "forbidden")
    r = vote(browser, "vpn-flaky", "no", token="forged")
    assert r.status_code == 403 and "This form has expired" in r.text
    assert 'class="vote"' in r.text  # the page again, with a fresh form
    r = vote(browser, "vpn-flaky", "no", Origin="https://evil.example")
    assert r.status_code == 403
    r = vote(browser, "vpn-flaky", "maybe")
    assert r.status_code == 422 and "expected yes or no" in r.text
    r = browser.post("/articles/vpn-flaky/helpful", content=b'{"helpful": "no"}',
                     headers={"Content-Type": "application/json"})
    assert_error(r, 415, "unsupported_media_type")
    assert votes_in(settings) == []

    # A plain post: 303 back to the article, which thanks the reader.
    r = vote(browser, "vpn-flaky", "no")
    assert r.status_code == 303
    assert r.headers["location"] == "/articles/vpn-flaky?voted=no#helpful"
    back = browser.get(r.headers["location"], headers={"Accept": "text/html"})
    assert "Thanks for telling us" in back.text
    # The page's script asks for JSON.
    r = vote(browser, "printer-jam", "yes", Accept="application/json")
    assert r.status_code == 200
    assert r.json() == {"recorded": True, "helpful": True, "message": "Thanks: glad it helped."}
    assert [(v.article_id, v.helpful, v.signed_in) for v in votes_in(settings)] == [
        ("vpn-flaky", False, False), ("printer-jam", True, False)]
    assert all(len(v.voter) == 43 and "198.51" not in v.voter for v in votes_in(settings))


def test_a_vote_on_an_article_the_caller_may_not_read_is_404(app: FastAPI,
                                                             settings: Settings) -> None:
    anon = reader(app)
    token = csrf_of(anon, "vpn-flaky")  # a valid form of ours, for another article
    for article_id in ("bgp-flap", "no-such-article"):
        r = vote(anon, article_id, "no", token=token)
        assert r.status_code == 404 and "Article not available" in r.text
        r = vote(anon, article_id, "no", token=token, Accept="application/json")
        assert_error(r, 404, "not_found")
    # An engineer may read it, so may vote on it.
    engineer = reader(app, Authorization=f"Bearer {ADMIN}")
    assert vote(engineer, "bgp-flap", "yes").status_code == 303
    assert [v.article_id for v in votes_in(settings)] == ["bgp-flap"]


# -- 4. one voter once; rate limit -----------------------------------------------------------
def test_one_voter_counts_once_and_may_change_their_mind(app: FastAPI,
                                                          settings: Settings) -> None:
    browser = reader(app)
    for _ in range(4):
        assert vote(browser, "vpn-flaky", "no").status_code == 303
    # A new browser (no cookies) from the same address is the same anonymous voter.
    assert vote(reader(app), "vpn-flaky", "no").status_code == 303
    row = row_of(app, "vpn-flaky")
    assert (row["unhelpful"], row["helpful"], row["flagged"]) == (1, 0, False)
    assert vote(browser, "vpn-flaky", "yes").status_code == 303
    row = row_of(app, "vpn-flaky")
    assert (row["unhelpful"], row["helpful"]) == (0, 1)
    assert len(votes_in(settings)) == 1


def test_votes_are_rate_limited_per_client(kb: tuple[Path, Path], tmp_path: Path, db_url: str,
                                           embedder: Embedder) -> None:
    settings = settings_for(kb, tmp_path, db_url, votes_per_minute=2)
    app = create_app(settings, embedder)
    with TestClient(app, base_url="http://localhost"):
        browser = reader(app)
        token = csrf_of(browser, "vpn-flaky")
        assert [vote(browser, "vpn-flaky", "no", token=token).status_code
                for _ in range(2)] == [303, 303]
        r = vote(browser, "vpn-flaky", "no", token=token, Accept="application/json")
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        page = vote(browser, "vpn-flaky", "no", token=token)
        assert page.status_code == 429 and "Too many votes" in page.text
        # Another client is not held back by this one.
        assert vote(reader(app, ip="203.0.113.50"), "vpn-flaky", "no").status_code == 303


# -- 5. the flag -----------------------------------------------------------------------------
def test_unhelpful_votes_flag_the_article_for_its_owner(app: FastAPI,
                                                        settings: Settings) -> None:
    before = report(app)
    assert row_of(app, "printer-jam")["status"] == "fresh"
    # Three readers say no: two signed in (by key), one anonymous; one says yes.
    ann, carol = people(settings, "ann@x.example", "carol@x.example")
    for who in (reader(app, Authorization=f"Bearer {ann}"),
                reader(app, Authorization=f"Bearer {carol}"), reader(app, ip="192.0.2.1")):
        assert vote(who, "printer-jam", "no").status_code == 303
    assert vote(reader(app, ip="192.0.2.2"), "printer-jam", "yes").status_code == 303
    row = row_of(app, "printer-jam")
    assert (row["status"], row["flagged"], row["unhelpful"], row["helpful"]) == (
        "fresh", True, 3, 1)
    after = report(app)
    assert after["flagged"] == 1
    assert after["trusted"] == before["trusted"] - 1
    assert after["trust_by_team"]["desk"] == {"articles": 1, "trusted": 0, "trust": 0.0,
                                              "target": 0.8}

    # The job opens a review task for the owner, and the owner's digest lists it.
    content = Path(settings.content_dir)
    teams, _ = TeamsConfig.load(content / "teams.yaml")
    articles = scan_content(content).articles
    engine = make_engine(str(settings.database_url))
    try:
        with Session(engine) as session:
            result = Job(teams, settings.freshness_config().policy).run(
                session, articles, dt.datetime.now(dt.UTC))
            assert any(c.article_id == "printer-jam" and c.action == "open-task"
                       for c in result.changes)
            task = session.scalars(select(ReviewTaskRow).where(
                ReviewTaskRow.article_id == "printer-jam")).one()
            assert (task.state, task.assignee) == ("open", "ann@x.example")
    finally:
        engine.dispose()
    mail = next(m for m in digests(_items(result.articles, teams), TODAY, "http://kb")
                if m.recipient == "ann@x.example")
    assert "[flagged] Printer paper jam" in mail.text
    assert "3 readers found it unhelpful" in mail.text
    assert "1 flagged by readers' votes" in mail.text

    # As many "yes" as "no": no flag.
    for ip in ("192.0.2.3", "192.0.2.4"):
        assert vote(reader(app, ip=ip), "printer-jam", "yes").status_code == 303
    assert row_of(app, "printer-jam")["flagged"] is False
    for ip in ("192.0.2.5", "192.0.2.6"):
        assert vote(reader(app, ip=ip), "printer-jam", "no").status_code == 303
    assert row_of(app, "printer-jam")["flagged"] is True
    # Ann reviews it: the earlier votes are answered, the flag goes, she is the reviewer shown.
    r = reader(app).post("/api/articles/printer-jam/review",
                         json={"outcome": "updated", "reviewer": "someone@else.example"},
                         headers={"Authorization": f"Bearer {ann}"})
    assert r.status_code == 200 and r.json()["reviewer"] == "ann@x.example"
    row = row_of(app, "printer-jam")
    assert (row["flagged"], row["unhelpful"], row["reviewed_by"]) == (
        False, 0, "ann@x.example")
    anon = next(a for a in reader(app).get("/api/freshness").json()["articles"]
                if a["id"] == "printer-jam")
    assert anon["reviewed_by"] == "Ann"  # a name, never the address, for anonymous callers


def test_vote_counting_policy() -> None:
    """The pure rule behind the flag: the window, the last review, the threshold, the margin."""
    config = PolicyConfig(unhelpful_votes=3, vote_window_days=30)
    day = dt.date(2026, 3, 31)
    old = day - dt.timedelta(days=30)  # outside a 30-day window (day - 29 is its first day)
    votes = [(day, False), (day - dt.timedelta(days=29), False), (old, False), (day, True)]
    assert count_votes(votes, day, None, config) == Votes(helpful=1, unhelpful=2)
    assert count_votes(votes, day, day - dt.timedelta(days=1), config) == Votes(1, 1)
    assert count_votes(votes, day, day, config) == Votes(0, 0)  # reviewed today
    assert flagged_by_votes(Votes(helpful=2, unhelpful=3), config)
    assert not flagged_by_votes(Votes(helpful=3, unhelpful=3), config)
    assert not flagged_by_votes(Votes(helpful=0, unhelpful=2), config)
    assert not flagged_by_votes(Votes(0, 50), PolicyConfig(unhelpful_votes=0))
    with pytest.raises(ValueError, match="vote_window_days"):
        PolicyConfig(vote_window_days=0)


# -- 6. the trust chart ----------------------------------------------------------------------
def test_freshness_page_shows_the_trust_score_as_svg_and_table(app: FastAPI) -> None:
    r = reader(app).get("/freshness")
    assert r.status_code == 200
    html = r.text
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert " style=" not in html and "<style" not in html
    svg = re.search(r"<svg class=\"trust-chart\".*?</svg>", html, re.S)
    assert svg is not None
    chart = svg.group(0)
    assert 'role="img"' in chart and 'aria-labelledby="trust-chart-title trust-chart-desc"' in chart
    assert '<title id="trust-chart-title">Trust score by team</title>' in chart
    # Anonymous: the three end-user articles, all fresh (the engineer one is not counted).
    assert "Trust score: 100% of 3 articles" in chart
    table = html[html.index('<table class="trust-table even">'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td>'
                      r'<td class="num">(\d+)</td><td class="num">([^<]+)</td>', table)
    assert rows == [("All teams", "3", "3", "100%"), ("Network", "1", "1", "100%"),
                    ("Service Desk", "1", "1", "100%"), ("No team", "1", "1", "100%")]


# -- 7. lint ---------------------------------------------------------------------------------
def test_lint_warns_about_articles_without_an_owner(kb: tuple[Path, Path]) -> None:
    issues = {i.path: i for i in scan_content(kb[0]).issues if i.code == "no-owner"}
    assert set(issues) == {"vpn-flaky.md", "orphan.md"}
    assert all(i.severity is Severity.WARNING for i in issues.values())
    assert "reviews go to team net (team-of-service)" in issues["vpn-flaky.md"].message
    assert "nobody is reminded" in issues["orphan.md"].message
