"""The service's database on SQLite and PostgreSQL (the same tests, via the ``db_url`` fixture).

1. Alembic migrates an empty database to head; running it again changes nothing; the service
   tables match their models exactly.
2. Searches and clicks made through the app are stored (query, normalised query, result ids,
   took_ms, zero-result flag, audience), and the metrics route computes volume, zero-result rate,
   CTR, top queries and the zero-result backlog from them.
3. The event writer stores every queued row by ``flush`` and by ``close`` (a batch per table,
   column defaults applied), drops and counts rows beyond its queue bound, and keeps going after
   a batch the database refuses.
"""

from __future__ import annotations

import time
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select

from app.analytics import percentile
from app.db import (
    INITIAL_REVISION,
    alembic_config,
    all_metadata,
    current_revision,
    make_engine,
    session_factory,
    upgrade,
)
from app.events import EventWriter
from app.models import ArticleRow, ClickEventRow, SearchEventRow
from indexer.embed import Embedder
from tests.api_support import ADMIN, ENGINEER, client_for, settings_for

SERVICE_TABLES = {"articles", "search_events", "click_events"}


def test_migrations_reach_head_and_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert current_revision(engine) == head
        upgrade(engine)  # idempotent
        assert current_revision(engine) == head
        assert set(inspect(engine).get_table_names()) >= SERVICE_TABLES
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diffs = [d for d in compare_metadata(context, list(all_metadata()))
                     if _table_of(d) in SERVICE_TABLES]
        assert diffs == []
    finally:
        engine.dispose()


def test_initial_revision_is_the_root() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision(INITIAL_REVISION).down_revision is None  # type: ignore[union-attr]


def _table_of(diff: object) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item if isinstance(item, tuple) else ():
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None:
            return str(table.name)
        if isinstance(part, str) and part in SERVICE_TABLES:
            return part
        if name in SERVICE_TABLES and hasattr(part, "columns"):
            return str(name)
    return None


def test_events_and_metrics(db_url: str, tmp_path: Path, kb_index: Path,
                            embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, database_url=db_url)
    with client_for(settings, embedder) as client:
        first = client.get("/api/search", params={"q": "VPN won't connect"}).json()
        client.get("/api/search", params={"q": "vpn won't connect"})
        client.get("/api/search", params={"q": "zzqx qqvv wwpp"}, headers=ENGINEER)
        client.post("/api/events/click", json={"article_id": first["results"][0]["id"],
                                               "search_id": first["search_id"], "rank": 1,
                                               "query": "VPN won't connect"})
        metrics = client.get("/api/metrics/search", headers=ADMIN).json()
        sessions = client.app.state.sessions  # type: ignore[attr-defined]
        with sessions() as session:
            rows = session.scalars(select(SearchEventRow).order_by(SearchEventRow.id)).all()
            clicks = session.scalars(select(ClickEventRow)).all()
            articles = session.scalars(select(ArticleRow)).all()
    assert len(articles) == 69
    assert [r.query for r in rows] == ["VPN won't connect", "vpn won't connect", "zzqx qqvv wwpp"]
    assert rows[0].search_id == first["search_id"]
    assert rows[0].result_ids == [r["id"] for r in first["results"]]
    assert rows[0].zero_results is False and rows[2].zero_results is True
    assert [r.audience for r in rows] == ["anonymous", "anonymous", "engineer"]
    assert all(r.took_ms > 0 for r in rows) and rows[0].normalized
    assert len(clicks) == 1 and clicks[0].rank == 1
    totals = metrics["totals"]
    assert totals["searches"] == 3 and totals["zero_results"] == 1
    assert totals["zero_result_rate"] == round(1 / 3, 4)
    assert totals["ctr"] == round(1 / 3, 4) and totals["clicks"] == 1
    assert totals["median_ms"] is not None and totals["p95_ms"] >= totals["median_ms"]
    assert metrics["top_queries"][0]["count"] == 2  # the two spellings normalise alike
    assert [q["count"] for q in metrics["top_zero_result_queries"]] == [1]
    assert len(metrics["per_day"]) == 1 and metrics["per_day"][0]["searches"] == 3


def test_event_writer_batches_flushes_and_closes(engine: Engine) -> None:
    sessions = session_factory(engine)
    writer = EventWriter(sessions, max_queue=50, linger=5.0)  # flush must not wait the linger
    writer.start()
    for i in range(30):
        writer.put(SearchEventRow, search_id=f"s{i:02d}", query=f"q{i}", normalized=f"q{i}",
                   took_ms=1.0, audience="engineer")
    writer.put(ClickEventRow, search_id="s00", article_id="vpn-reset", rank=1)
    started = time.monotonic()
    assert writer.flush(timeout=4.0)
    assert time.monotonic() - started < 4.0
    with sessions() as session:
        rows = session.scalars(select(SearchEventRow).order_by(SearchEventRow.search_id)).all()
        click = session.scalars(select(ClickEventRow)).one()
    assert [r.search_id for r in rows] == [f"s{i:02d}" for i in range(30)]
    assert rows[0].at is not None and rows[0].result_ids == [] and rows[0].total == 0  # defaults
    assert click.article_id == "vpn-reset" and click.at is not None
    # A duplicate search_id violates the unique index: that batch is lost, the writer goes on.
    writer.put(SearchEventRow, search_id="s00", query="dup", normalized="dup", took_ms=1.0,
               audience="engineer")
    assert writer.flush()
    writer.put(SearchEventRow, search_id="late", query="late", normalized="late", took_ms=1.0,
               audience="engineer")
    writer.close()
    with sessions() as session:
        ids = set(session.scalars(select(SearchEventRow.search_id)).all())
    assert "late" in ids and len(ids) == 31
    full = EventWriter(sessions, max_queue=3)  # not started: nothing drains the queue
    for i in range(5):
        full.put(SearchEventRow, search_id=f"x{i}", query="x", normalized="x", took_ms=1.0,
                 audience="engineer")
    assert full.dropped == 2


def test_search_events_can_be_switched_off(db_url: str, tmp_path: Path, kb_index: Path,
                                           embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, database_url=db_url, record_search_events=False)
    with client_for(settings, embedder) as client:
        client.get("/api/search", params={"q": "vpn"})
        assert client.get("/api/metrics/search", headers=ADMIN).json()["totals"]["searches"] == 0
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            assert session.scalars(select(SearchEventRow)).all() == []
    finally:
        engine.dispose()


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
