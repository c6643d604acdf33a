"""The freshness job against real databases (SQLite and PostgreSQL).

Properties proved:
1. A second run on the same day changes nothing (no changes planned, rows identical).
2. ``dry_run`` writes nothing and still lists what it would do.
3. Stale and unverified articles get one open review task each; the banner follows `unverified`.
4. A review recorded through the API (a review action row) resets review-by, closes the task and
   drops the banner; so does `last_reviewed` moving forward in the file (recorded as a Git review).
5. An article that disappears from the content has its task closed and its banner removed.
6. ``--write-banners`` adds a marked block and removing it restores the file byte for byte.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.db import make_engine, upgrade
from freshness import banners
from freshness.config import FreshnessConfig
from freshness.job import Job
from freshness.models import (
    FreshnessStateRow,
    NotificationRow,
    ReviewActionRow,
    ReviewTaskRow,
)
from freshness.policy import Freshness, Status, evaluate
from indexer.article import Article
from indexer.content import ContentScan, scan_content
from tests.conftest import CONTENT

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every freshness row, minus bookkeeping timestamps, for before/after comparisons."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with Session(engine) as s:
        for model in (FreshnessStateRow, ReviewTaskRow, ReviewActionRow, NotificationRow):
            cols = [c.name for c in model.__table__.columns
                    if c.name not in ("updated_at", "created_at", "reviewed_at", "sent_at")]
            rows = s.execute(select(*[model.__table__.c[c] for c in cols])).all()
            out[model.__tablename__] = sorted(tuple(r) for r in rows)
    return out


def state(engine: Engine, article_id: str) -> FreshnessStateRow:
    with Session(engine) as s:
        row = s.get(FreshnessStateRow, article_id)
        assert row is not None
        return row


def open_tasks(engine: Engine) -> dict[str, ReviewTaskRow]:
    with Session(engine) as s:
        return {t.article_id: t for t in s.scalars(
            select(ReviewTaskRow).where(ReviewTaskRow.state == "open"))}


def first_unverified(articles: list[Article], engine: Engine) -> str:
    with Session(engine) as s:
        return min(r.article_id for r in s.scalars(
            select(FreshnessStateRow).where(FreshnessStateRow.status == "unverified")))


def test_job_is_idempotent_and_tracks_tasks_and_banners(kb: ContentScan, engine: Engine) -> None:
    with Session(engine) as s:
        first = Job(kb.teams).run(s, kb.articles, NOW)
    counts = first.counts()
    assert counts["unverified"] > 0
    assert counts["stale"] > 0
    assert sum(counts.values()) == len(kb.articles)
    tasks = open_tasks(engine)
    needing = {a.id for a in first.articles if a.status in (Status.STALE, Status.UNVERIFIED)}
    assert set(tasks) == needing
    assert {a.id for a in first.articles if a.banner} == {
        a.id for a in first.articles if a.status is Status.UNVERIFIED}
    before = dump(engine)

    with Session(engine) as s:
        second = Job(kb.teams).run(s, kb.articles, NOW)
    assert second.changes == []
    assert dump(engine) == before
    assert [a.to_json() for a in second.articles] == [a.to_json() for a in first.articles]


def test_dry_run_writes_nothing(kb: ContentScan, engine: Engine) -> None:
    before = dump(engine)
    with Session(engine) as s:
        result = Job(kb.teams).run(s, kb.articles, NOW, dry_run=True)
    assert len([c for c in result.changes if c.action == "track"]) == len(kb.articles)
    assert any(c.action == "open-task" for c in result.changes)
    assert dump(engine) == before
    assert all(not v for v in before.values())
    # After a real run, a dry run a week later plans changes but still writes nothing.
    with Session(engine) as s:
        Job(kb.teams).run(s, kb.articles, NOW)
    before = dump(engine)
    with Session(engine) as s:
        later = Job(kb.teams).run(s, kb.articles, NOW + dt.timedelta(days=30), dry_run=True)
    assert any(c.action == "status" for c in later.changes)
    assert dump(engine) == before


def test_api_review_resets_review_by_and_closes_task(kb: ContentScan, engine: Engine) -> None:
    with Session(engine) as s:
        Job(kb.teams).run(s, kb.articles, NOW)
    target = first_unverified(kb.articles, engine)
    assert state(engine, target).banner
    with Session(engine) as s:
        s.add(ReviewActionRow(article_id=target, reviewer="ann@x.example",
                              outcome="still-accurate", reviewed_on=NOW.date(), via="api"))
        s.commit()
        result = Job(kb.teams).run(s, kb.articles, NOW)
    actions = {(c.article_id, c.action) for c in result.changes}
    assert {(target, "status"), (target, "banner-off"), (target, "close-task")} <= actions
    row = state(engine, target)
    assert (row.status, row.banner, row.reviewed_on) == ("fresh", False, NOW.date())
    assert row.review_by is not None
    assert row.review_by > NOW.date()
    assert target not in open_tasks(engine)


def test_retire_closes_the_task_without_a_banner(kb: ContentScan, engine: Engine) -> None:
    with Session(engine) as s:
        Job(kb.teams).run(s, kb.articles, NOW)
        target = first_unverified(kb.articles, engine)
        s.add(ReviewActionRow(article_id=target, reviewer="ann@x.example", outcome="retire",
                              reviewed_on=NOW.date(), via="api"))
        s.commit()
        result = Job(kb.teams).run(s, kb.articles, NOW + dt.timedelta(days=400))
    r = next(a for a in result.articles if a.id == target)
    assert r.retired
    assert not r.banner
    assert target not in open_tasks(engine)


def test_git_review_is_honoured_and_recorded(kb: ContentScan, engine: Engine) -> None:
    with Session(engine) as s:
        Job(kb.teams).run(s, kb.articles, NOW)
    target = first_unverified(kb.articles, engine)
    moved = [dataclasses.replace(a, last_reviewed=dt.date(2026, 11, 30)) if a.id == target else a
             for a in kb.articles]
    with Session(engine) as s:
        result = Job(kb.teams).run(s, moved, NOW)
        assert (target, "git-review") in {(c.article_id, c.action) for c in result.changes}
        trail = s.scalars(select(ReviewActionRow).where(ReviewActionRow.article_id == target)).all()
        assert [(t.via, t.reviewed_on) for t in trail] == [("git", dt.date(2026, 11, 30))]
        again = Job(kb.teams).run(s, moved, NOW)
    assert again.changes == []
    assert state(engine, target).status == "fresh"
    assert target not in open_tasks(engine)


def test_removed_article_closes_its_task(kb: ContentScan, engine: Engine) -> None:
    with Session(engine) as s:
        Job(kb.teams).run(s, kb.articles, NOW)
    target = first_unverified(kb.articles, engine)
    with Session(engine) as s:
        result = Job(kb.teams).run(s, [a for a in kb.articles if a.id != target], NOW)
    assert (target, "gone") in {(c.article_id, c.action) for c in result.changes}
    row = state(engine, target)
    assert (row.present, row.banner) == (False, False)
    assert target not in open_tasks(engine)


def test_write_banners_is_idempotent_and_byte_exact(kb: ContentScan, tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    scan = scan_content(content)
    eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(eng)
    originals = {p: p.read_bytes() for p in content.rglob("*.md")}
    with Session(eng) as s:
        result = Job(scan.teams, content_dir=content).run(s, scan.articles, NOW, write_banners=True)
    flagged = {a.path for a in result.articles if a.banner}
    written = {c.detail for c in result.changes if c.action == "write-banner"}
    assert written == flagged
    for path, data in originals.items():
        now_data = path.read_bytes()
        rel = path.relative_to(content).as_posix()
        if rel in flagged:
            assert banners.has_banner(now_data)
            assert banners.remove_banner(now_data) == data
            assert b"**Unverified:**" in now_data
        else:
            assert now_data == data
    # The indexer still reads the file with its banner (title and sections intact).
    rescan = scan_content(content)
    assert {a.id: a.title for a in rescan.articles} == {a.id: a.title for a in scan.articles}
    with Session(eng) as s:
        again = Job(scan.teams, content_dir=content).run(s, rescan.articles, NOW, write_banners=True)
    assert [c for c in again.changes if "banner" in c.action] == []
    # A review removes the block and restores the original bytes.
    target = sorted(flagged)[0]
    article_id = next(a.id for a in result.articles if a.path == target)
    with Session(eng) as s:
        s.add(ReviewActionRow(article_id=article_id, reviewer="ann@x.example",
                              outcome="still-accurate", reviewed_on=NOW.date()))
        s.commit()
        Job(scan.teams, content_dir=content).run(s, rescan.articles, NOW, write_banners=True)
    assert (content / target).read_bytes() == originals[content / target]
    eng.dispose()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_banner_block_placement(newline: str) -> None:
    src = newline.join(["---", "title: T", "---", "", "# T", "", "## Symptom", "x", ""])
    data = src.encode()
    with_banner = banners.add_banner(data, "line one\nline two")
    text = with_banner.decode()
    assert text.index("# T") < text.index("fieldguide:banner:start") < text.index("## Symptom")
    assert f"> line one{newline}> line two{newline}" in text
    assert banners.add_banner(with_banner, "line one\nline two") == with_banner
    assert banners.remove_banner(with_banner) == data
    assert banners.remove_banner(data) == data
    no_h1 = b"Just text\n"
    assert banners.remove_banner(banners.add_banner(no_h1, "b")) == no_h1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lookup_answers_from_memory_until_its_ttl(kb: ContentScan, engine: Engine) -> None:
    """Search reads freshness from memory: a state written behind the service's back (another
    replica's review) shows only after ``ttl``; ``refresh()`` shows it at once."""
    from freshness.service import FreshnessService

    by_id = {a.id: a for a in kb.articles}
    clock = FakeClock()
    service = FreshnessService(engine, FreshnessConfig(content_dir=CONTENT, lookup_seconds=30.0),
                               article=by_id.get, articles=lambda: kb.articles, clock=clock)
    service.refresh()  # what the lifespan does before serving
    with Session(engine) as s:  # the service answers for today, so the job runs for today
        live = {r.id: r for r in Job(kb.teams).run(s, kb.articles, dt.datetime.now(dt.UTC),
                                                   dry_run=True).articles}
    stale = [i for i, r in live.items() if r.status in (Status.STALE, Status.UNVERIFIED)]
    some, other = stale[0], stale[1]
    # Before the job ever ran, every answer is the policy computed for the article.
    assert service.freshness(some) == Freshness(live[some].status, live[some].review_by,
                                                live[some].banner)
    assert service.freshness("no-such-article") is Freshness.UNKNOWN

    def review_elsewhere(article_id: str) -> None:
        with Session(engine) as s:
            s.add(ReviewActionRow(article_id=article_id, reviewer="ann@x.example",
                                  outcome="still-accurate", reviewed_on=dt.date.today(),
                                  reviewed_at=dt.datetime.now(dt.UTC), via="api"))
            s.commit()

    review_elsewhere(some)
    assert service.freshness(some).status is live[some].status  # memory, not the database
    clock.now += 31  # expired: this answer is still the old map, a rebuild starts behind it
    service.freshness(some)
    assert service.wait_idle()
    assert service.freshness(some).status is Status.FRESH
    assert service.freshness(some).banner is False
    review_elsewhere(other)
    service.refresh()
    assert service.freshness(other).status is Status.FRESH


def test_lookup_keeps_its_map_while_nothing_it_depends_on_changed(kb: ContentScan,
                                                                  engine: Engine) -> None:
    """The map is recomputed only when its inputs change (the articles, the stored history,
    the teams, the day): an unchanged rebuild keeps the very same map, a review or another
    snapshot's articles make a new one."""
    from freshness.service import FreshnessService

    listed = list(kb.articles)
    service = FreshnessService(engine, FreshnessConfig(content_dir=CONTENT),
                               article={a.id: a for a in listed}.get, articles=lambda: listed)
    service.refresh()
    first = service._memo
    service.refresh()
    assert service._memo is first  # nothing changed: not recomputed
    some = listed[0].id
    with Session(engine) as s:
        s.add(ReviewActionRow(article_id=some, reviewer="ann@x.example", outcome="retire",
                              reviewed_on=dt.date.today(), reviewed_at=dt.datetime.now(dt.UTC),
                              via="api"))
        s.commit()
    service.refresh()
    assert service._memo is not first and service.retired == frozenset({some})
    second = service._memo
    listed[:] = [dataclasses.replace(a) for a in listed]  # a reload: equal articles, new objects
    service.refresh()
    assert service._memo is not second
    assert service._memo[some][0] is listed[0]  # answers belong to the articles now served


def test_lookup_never_waits_for_the_database(kb: ContentScan, engine: Engine) -> None:
    """An article the map has not seen (a reindex just added it) is answered from its front
    matter at once; the stored state follows from the background rebuild."""
    from freshness.service import FreshnessService

    current = {a.id: a for a in kb.articles}
    settings = FreshnessConfig(content_dir=CONTENT)
    service = FreshnessService(engine, settings, article=current.get, articles=lambda: [])
    service.refresh()  # an empty map
    some = kb.articles[0]
    answer = service.freshness(some.id)  # computed in memory from the article
    assert answer.status is not None and answer.review_by == evaluate(some, kb.teams, NOW).review_by
    assert service.wait_idle()


def test_lookup_recomputes_an_edited_article(kb: ContentScan, engine: Engine) -> None:
    """A computed answer belongs to the article it was computed from: after a reindex swaps in
    an edited article, the next answer follows the new front matter."""
    from freshness.service import FreshnessService

    current = {a.id: a for a in kb.articles}
    settings = FreshnessConfig(content_dir=CONTENT)
    service = FreshnessService(engine, settings, article=current.get,
                               articles=lambda: kb.articles)
    service.refresh()
    target = next(a for a in kb.articles
                  if a.last_reviewed is not None and a.last_reviewed < NOW.date() - dt.timedelta(days=30))
    before = service.freshness(target.id)
    current[target.id] = dataclasses.replace(target, last_reviewed=dt.date.today())
    after = service.freshness(target.id)
    assert after.review_by is not None and before.review_by is not None
    assert after.review_by > before.review_by
    assert service.freshness(target.id) == after  # and that answer is kept
    assert service.wait_idle()
