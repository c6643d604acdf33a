"""The /insights page over the real app (SQLite and PostgreSQL). Properties proved:

1. Engineers (an engineer key, a personal key) and admins (the admin token) see it; a reader
   gets 403 and an anonymous visitor 401, each an HTML page that says so with a sign-in link
   and not one figure.
2. It is served under the pages' strict CSP: no inline script, no style attribute; its only
   scripts are the vendored Chart.js and insights.js, from /static.
3. Every drawn number is the API's: the ratio per ISO week, MTTR per severity and phase (P1..P4
   rows only, no row across severities), the repeat rate, the zero-result rate per day, the
   top zero-result queries, confirmed and potential deflection and first-contact resolution as
   separate series per week (never summed).
4. What names articles stays within the caller's audiences: for a caller who may read end-user
   articles only, engineers' searches are left out and trust counts end-user articles only.
"""

from __future__ import annotations

import re
from typing import Any

from app.insights import gather
from app.people import PersonKeys, Role
from app.routes.pages import PAGE_CSP
from indexer.article import Audience
from tests import incident_support
from tests.api_support import ADMIN, ENGINEER
from tests.insights_support import Tables, seed

make_client = incident_support.make_client  # the fixture


def test_who_may_see_it(make_client: Any) -> None:
    client = make_client()
    reader = PersonKeys(client.app.state.sessions).create("Rae Reader", "rae@x.example",
                                                          Role.READER).secret
    engineer = PersonKeys(client.app.state.sessions).create("Erin", "erin@x.example",
                                                            Role.ENGINEER).secret
    for headers, status in (({}, 401), ({"Authorization": f"Bearer {reader}"}, 403),
                            ({"Authorization": "Bearer fgk_not-a-key"}, 401)):
        r = client.get("/insights", headers=headers)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert "Insights are not available to you" in r.text
        assert 'href="/signin?next=%2Finsights"' in r.text
        assert "<table" not in r.text and "chart.umd" not in r.text
        assert 'href="http://localhost/insights"' not in r.text  # no link to it in the header
    for headers in (ENGINEER, ADMIN, {"Authorization": f"Bearer {engineer}"}):
        r = client.get("/insights", headers=headers)
        assert r.status_code == 200, r.text
        assert "Incident-to-article ratio per ISO week" in r.text
        assert '<a href="http://localhost/insights" aria-current="page">Insights</a>' in r.text
    assert client.get("/insights?days=0", headers=ENGINEER).status_code == 422


def test_strict_csp_and_no_inline_code(make_client: Any) -> None:
    client = make_client()
    r = client.get("/insights", headers=ENGINEER)
    assert r.headers["content-security-policy"] == PAGE_CSP.format(ancestors="'none'")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    sources = [re.search(r'src="([^"]+)"', attrs).group(1) for attrs, _ in scripts]  # type: ignore[union-attr]
    assert any("/static/vendor/chartjs/chart.umd.min.js?v=" in s for s in sources)
    assert any("/static/insights.js?v=" in s for s in sources)
    assert " style=" not in r.text and "<style" not in r.text
    vendored = client.get("/static/vendor/chartjs/chart.umd.min.js")
    assert vendored.status_code == 200 and "Chart.js v4.6.1" in vendored.text[:200]
    assert vendored.headers["content-type"].startswith("text/javascript")


def test_the_numbers_are_the_apis(make_client: Any) -> None:
    client = make_client()
    seed(client)
    client.app.state.services.chat.sweep()
    page = Tables(client.get("/insights?days=28", headers=ENGINEER).text)
    m = client.get("/api/metrics/incidents?days=28", headers=ENGINEER).json()
    ratio = m["ratio"]
    assert (ratio["covered"], ratio["resolved"], ratio["pending"]) == (1, 2, 0)
    assert page.values("ratio-week", "Ratio") == {w["week"]: w["value"]
                                                  for w in ratio["by_week"]}
    assert page.charts["ratio-week"]["data-target"] == "0.7"
    assert page.values("ratio-team", "Ratio") == {"payments": 0.5}
    mttr = {sev: b for sev, b in m["mttr"].items() if b["n"]}
    assert set(mttr) == {"P1", "P2"}
    labels = [label for label, _ in page.tables["mttr"]["rows"]]
    assert labels == ["P1", "P2"]  # one row per severity, none across them
    for phase, key in (("To acknowledge", "acknowledge_s"), ("To diagnose", "diagnose_s"),
                       ("To resolve", "resolve_s")):
        assert page.values("mttr", phase) == {s: b[key] for s, b in mttr.items()}
    assert page.values("mttr", "To resolve") == {"P1": 3000.0, "P2": 10800.0}
    assert page.values("repeat", "Repeat rate") == {"Last 28 days": m["repeat_rate"]["value"]}

    s = client.get("/api/metrics/search?days=28", headers=ADMIN).json()
    assert page.values("zero-results", "Zero-result rate") == {
        d["date"]: d["zero_result_rate"] for d in s["per_day"]}
    assert page.values("missing", "Searches with no result") == {"qqzx wibble frobnicate": 2.0}

    d = client.get("/api/metrics/deflection?days=28", headers=ADMIN).json()
    for column, key in (("Confirmed deflection", "confirmed_deflection_rate"),
                        ("Potential deflection", "potential_deflection_rate"),
                        ("First-contact resolution", "first_contact_resolution_rate"),
                        ("Escalation", "escalation_rate")):
        assert page.values("deflection", column) == {p["period"]: p[key] for p in d["per_week"]}
    head = page.tables["deflection"]["head"]
    assert "Confirmed deflection" in head and "Potential deflection" in head
    assert not any("+" in h or "total" in h.lower() for h in head)  # never summed

    cov = client.get("/api/coverage", headers=ENGINEER).json()
    assert cov["counts"]["alerts"] == 2
    assert page.values("coverage", "Covered") == {
        t: c["covered"] / c["alerts"] for t, c in cov["teams"].items()}
    trust = page.values("trust", "Trust")
    assert trust and all(0 <= v <= 1 for v in trust.values() if v is not None)


def test_audiences(make_client: Any) -> None:
    client = make_client()
    assert client.get("/api/search", params={"q": "zzyqv xqwrtk"},
                      headers=ENGINEER).status_code == 200
    assert client.get("/api/search", params={"q": "zzyqv plmktw"}).status_code == 200
    services = client.app.state.services
    everyone = gather(services, frozenset(services.settings.audience_vocabulary), days=7)
    readers = gather(services, frozenset({Audience.END_USER}), days=7)
    queries = lambda data: {q["query"] for q in data.search["top_zero_result_queries"]}  # noqa: E731
    assert queries(everyone) == {"zzyqv xqwrtk", "zzyqv plmktw"}
    assert queries(readers) == {"zzyqv plmktw"}
    articles = lambda data: sum(t["articles"] for t in data.trust.values())  # noqa: E731
    end_user = len(list(services.index.searcher.articles(frozenset({Audience.END_USER}))))
    assert articles(readers) == end_user < articles(everyone)
