"""Freshness over HTTP and the CLI, on a tiny knowledge base dated relative to today.

Properties proved:
1. After the job, the unverified banner shows in search results, the article JSON and the page.
2. ``POST /api/articles/{id}/review`` needs a person (a personal key, a session or the admin
   token) who owns the article, is in its owning team or is an admin (an unnamed engineer key
   is refused), validates the outcome, records the signed-in reviewer (never the body's name)
   in the audit trail, resets review-by and removes the banner at once.
3. ``GET /api/freshness`` groups by state/owner/team/service, filters, answers CSV, and shows
   anonymous callers end-user articles only.
4. ``fieldguide freshness --json`` prints exactly the contract keys; ``--dry-run`` writes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import make_engine, session_factory, upgrade
from app.main import create_app
from app.people import PersonKeys, Role
from app.settings import Settings
from freshness.cli import run as freshness_cli
from freshness.models import ReviewActionRow
from indexer.build import build_index
from indexer.embed import Embedder
from tests.api_support import assert_error

TODAY = dt.datetime.now(dt.UTC).date()
ADMIN = "admin-token-0123456789"
KEY = "engineer-key-abcdef"
TEAMS_YAML = """
default_team: desk
teams:
  desk: {name: Desk, channel: "#desk", email: desk@x.example, members: [ann@x.example]}
  net: {name: Network, channel: "#net", email: net@x.example, members: [bob@x.example]}
services: {vpn: net, printing: desk}
"""


def article(aid: str, title: str, reviewed: dt.date, audience: str, owner: str,
            service: str) -> str:
    return f"""---
id: {aid}
title: {title}
symptoms: ["{title.lower()}"]
services: [{service}]
audience: [{audience}]
owner: {owner}
created: 2020-01-01
last_reviewed: {reviewed.isoformat()}
---

# {title}

## Symptom

{title}. The screen shows an error.

## Likely causes

1. A cause.

## Diagnostic steps

1. Check it.

## Resolution

1. Fix it.

## Escalation criteria

- Escalate to the desk.
"""


@pytest.fixture(scope="module")
def tiny_kb(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fresh-kb")
    content = root / "content"
    content.mkdir()
    (content / "teams.yaml").write_text(TEAMS_YAML)
    (content / "vpn-drops.md").write_text(article(
        "vpn-drops", "VPN keeps dropping every hour", TODAY - dt.timedelta(days=200),
        "end-user", "left@x.example", "vpn"))
    (content / "printer-jam.md").write_text(article(
        "printer-jam", "Printer paper jam in tray two", TODAY - dt.timedelta(days=3),
        "end-user", "ann@x.example", "printing"))
    (content / "bgp-flap.md").write_text(article(
        "bgp-flap", "BGP session flapping on core router", TODAY - dt.timedelta(days=95),
        "engineer", "bob@x.example", "vpn"))
    index = root / "index"
    cached = embedder.with_cache(index / "embeddings.sqlite")  # the session's model, loaded once
    build_index(content, index, cached)
    return content, index


@pytest.fixture
def settings(tiny_kb: tuple[Path, Path], tmp_path: Path, db_url: str) -> Settings:
    content, index = tiny_kb
    return Settings(data_dir=tmp_path, content_dir=content, index_dir=index,
                    database_url=db_url, admin_token=ADMIN, engineer_keys=[KEY],
                    public_url="https://kb.example", freshness_schedule_hours=0,
                    rate_limit_per_second=0, index_poll_seconds=0)


def cli(settings: Settings, args: Any, out: Any, **kwargs: Any) -> int:
    """``fieldguide freshness`` as app.cli calls it."""
    return freshness_cli(settings.freshness_config(), str(settings.database_url), args, out,
                         **kwargs)


def cli_args(**kw: object) -> SimpleNamespace:
    base = {"now": None, "dry_run": False, "notify": False, "report": False, "json": False,
            "csv": False, "write_banners": False}
    return SimpleNamespace(**{**base, **kw})


@pytest.fixture
def client(settings: Settings, embedder: Embedder) -> Iterator[TestClient]:
    out = io.StringIO()
    assert cli(settings, cli_args(), out, migrate=upgrade) == 0
    with TestClient(create_app(settings, embedder), base_url="http://localhost") as c:
        yield c


def test_cli_json_contract_and_dry_run(settings: Settings) -> None:
    out = io.StringIO()
    assert cli(settings, cli_args(dry_run=True, json=True), out) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [set(r) for r in rows] == [{"id", "path", "status", "review_by", "assignee",
                                       "assigned_because", "banner"}] * 3
    by_id = {r["id"]: r for r in rows}
    assert by_id["vpn-drops"]["status"] == "unverified"
    assert by_id["vpn-drops"]["banner"] is True
    assert by_id["vpn-drops"]["assignee"] == "net"
    assert by_id["vpn-drops"]["assigned_because"] == "owner-left:team-of-service"
    assert by_id["bgp-flap"]["status"] == "stale"
    assert by_id["printer-jam"] == {**by_id["printer-jam"], "status": "fresh", "banner": False,
                                    "assignee": "ann@x.example", "assigned_because": "owner"}
    if settings.database_url and settings.database_url.startswith("sqlite"):
        assert not list(Path(settings.data_dir).glob("*.db"))  # nothing created
    # --now moves the clock; a bad date is a usage error.
    out = io.StringIO()
    later = (TODAY + dt.timedelta(days=365)).isoformat()
    assert cli(settings, cli_args(dry_run=True, json=True, now=later), out) == 0
    assert {json.loads(x)["status"] for x in out.getvalue().splitlines()} == {"unverified"}
    assert cli(settings, cli_args(now="yesterday"), io.StringIO()) == 2


def test_banner_shows_then_disappears_after_review(client: TestClient, settings: Settings
                                                   ) -> None:
    hit = next(r for r in client.get("/api/search", params={"q": "vpn dropping"}).json()[
        "results"] if r["id"] == "vpn-drops")
    assert hit["freshness"]["status"] == "unverified"
    assert hit["freshness"]["banner"] is True
    assert client.get("/api/articles/vpn-drops").json()["freshness"]["banner"] is True
    assert 'class="banner"' in client.get("/articles/vpn-drops").text
    fresh = client.get("/api/articles/printer-jam").json()["freshness"]
    assert (fresh["status"], fresh["banner"]) == ("fresh", False)

    url = "/api/articles/vpn-drops/review"
    body = {"outcome": "still-accurate", "reviewer": "carol@x.example"}
    r = client.post(url, json=body)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    r = client.post(url, json=body, headers={"Authorization": "Bearer wrong-key-123"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    r = client.post(url, json={"outcome": "looks-fine"}, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 422
    assert "still-accurate" in r.json()["error"]["message"]
    r = client.post("/api/articles/nope/review", json=body,
                    headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 404

    # An unnamed engineer key is nobody's: it may not review. Bob (net, the vpn service's
    # team) may, and he is the reviewer recorded, whatever name the body gives.
    r = client.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert_error(r, 403, "forbidden")
    engine = make_engine(str(settings.database_url))
    keys = PersonKeys(session_factory(engine))
    ann = keys.create("Ann", "ann@x.example", Role.ENGINEER).secret  # desk, not net
    bob = keys.create("Bob", "bob@x.example", Role.ENGINEER).secret
    engine.dispose()
    r = client.post(url, json=body, headers={"Authorization": f"Bearer {ann}"})
    assert_error(r, 403, "forbidden")
    r = client.post(url, json=body, headers={"Authorization": f"Bearer {bob}"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["reviewer"] == "bob@x.example"
    assert done["freshness"] == {"status": "fresh", "banner": False,
                                 "review_by": (TODAY + dt.timedelta(days=90)).isoformat()}

    hit = next(r for r in client.get("/api/search", params={"q": "vpn dropping"}).json()[
        "results"] if r["id"] == "vpn-drops")
    assert hit["freshness"] == done["freshness"]
    assert 'class="banner"' not in client.get("/articles/vpn-drops").text
    engine = make_engine(str(settings.database_url))
    with Session(engine) as s:
        trail = s.scalars(select(ReviewActionRow)).all()
    engine.dispose()
    assert [(t.article_id, t.reviewer, t.outcome, t.reviewed_on, t.via) for t in trail] == [
        ("vpn-drops", "bob@x.example", "still-accurate", TODAY, "api")]
    # The admin token works too, and an anonymous reviewer name falls back to the token kind.
    # A retired article leaves search and chat at once (it stays readable by its id).
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def found() -> tuple[bool, bool]:
        query = "BGP session flapping on core router"
        hits = client.get("/api/search", params={"q": query}, headers=admin).json()["results"]
        reply = client.post("/api/chat", json={"message": query}, headers=admin).json()["reply"]
        return ("bgp-flap" in [h["id"] for h in hits],
                "bgp-flap" in [s["id"] for s in reply["sources"]])

    assert found() == (True, True)
    r = client.post("/api/articles/bgp-flap/review", json={"outcome": "retire"}, headers=admin)
    assert r.status_code == 200
    assert (r.json()["reviewer"], r.json()["retired"]) == ("admin", True)
    assert found() == (False, False)
    assert client.get("/api/articles/bgp-flap", headers=admin).status_code == 200


def test_freshness_report_json_csv_and_filters(client: TestClient) -> None:
    anon = client.get("/api/freshness").json()
    assert {a["id"] for a in anon["articles"]} == {"vpn-drops", "printer-jam"}
    eng = client.get("/api/freshness", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert eng["counts"] == {"fresh": 1, "due_soon": 0, "stale": 1, "unverified": 1}
    assert eng["trust"] == pytest.approx(1 / 3, abs=1e-3)
    assert eng["trust_target"] == 0.8
    assert eng["by_team"]["net"] == {"fresh": 0, "due_soon": 0, "stale": 1, "unverified": 1}
    assert eng["by_owner"]["ann@x.example"]["fresh"] == 1
    assert eng["by_service"]["vpn"]["unverified"] == 1
    vpn = next(a for a in eng["articles"] if a["id"] == "vpn-drops")
    assert vpn["url"] == "https://kb.example/articles/vpn-drops"
    only = client.get("/api/freshness", params={"status": ["stale", "unverified"],
                                                "team": "net"},
                      headers={"Authorization": f"Bearer {KEY}"}).json()
    assert {a["id"] for a in only["articles"]} == {"vpn-drops", "bgp-flap"}
    assert client.get("/api/freshness", params={"owner": "bob@x.example"},
                      headers={"Authorization": f"Bearer {KEY}"}).json()["total"] == 1
    bad = client.get("/api/freshness", params={"status": "expired"})
    assert bad.status_code == 422
    assert "unverified" in bad.json()["error"]["message"]
    r = client.get("/api/freshness", params={"format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["id"]: row["status"] for row in rows} == {"vpn-drops": "unverified",
                                                          "printer-jam": "fresh"}
    assert rows[0]["banner"] in ("yes", "no")


def test_cli_report_and_write_banners(settings: Settings, tmp_path: Path) -> None:
    content = tmp_path / "content-copy"
    shutil.copytree(settings.content_dir, content)
    local = settings.model_copy(update={"content_dir": content,
                                        "index_dir": tmp_path / "no-index"})
    out = io.StringIO()
    assert cli(local, cli_args(write_banners=True), out, migrate=upgrade) == 0
    assert "write-banner  vpn-drops" in out.getvalue()
    assert "fieldguide:banner:start" in (content / "vpn-drops.md").read_text()
    out = io.StringIO()
    assert cli(local, cli_args(report=True), out, migrate=upgrade) == 0
    assert "trust 33% (target 80%)" in out.getvalue()
    assert "By team:" in out.getvalue()
