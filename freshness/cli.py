"""``fieldguide freshness``: run the job (or a dry run), print JSON/CSV/report, send notifications."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from freshness.config import FreshnessConfig
from freshness.job import JobResult
from freshness.models import TABLES, Base
from freshness.notify import notifiers
from freshness.report import build_report, report_csv, report_text
from freshness.service import job_for, load_articles, run_locked, schema_ready


def _now(value: str | None) -> dt.datetime | dt.date | None:
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def run(config: FreshnessConfig, database_url: str, args: Any, out: TextIO, migrate: Any = None,
        engine_factory: Callable[[str], Engine] = create_engine) -> int:
    """Entry point called by ``app.cli``; ``migrate(engine)`` creates the schema when given.

    ``engine_factory`` opens the database (``app.db.make_engine`` adds SQLite's pragmas); the
    freshness package knows SQLAlchemy, not the service's engine settings."""
    now = _now(getattr(args, "now", None))
    if now is None:
        print(f"fieldguide freshness: --now {args.now!r} is not a date (YYYY-MM-DD)",
              file=sys.stderr)
        return 2
    dry_run = bool(getattr(args, "dry_run", False))
    notify = bool(getattr(args, "notify", False))
    write_banners = bool(getattr(args, "write_banners", False))
    warning = config.unset_url_warning() if notify else None
    if warning:
        print(f"fieldguide freshness: warning: {warning}", file=sys.stderr)
    url = database_url
    if dry_run and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        url = "sqlite:///:memory:"  # connecting would create the file: a dry run writes nothing
    engine = engine_factory(url)
    try:
        if not dry_run and migrate is not None:
            migrate(engine)
        articles = load_articles(config)
        if dry_run:
            result = _dry_run(engine, config, articles, now, notify, write_banners)
        else:
            result = run_locked(engine, config, now, notify=notify, articles=articles,
                                write_banners=write_banners)
    finally:
        engine.dispose()
    if result.skipped:
        print(f"skipped: {result.skipped}", file=out)
        return 0
    if getattr(args, "json", False):
        for r in result.articles:
            print(json.dumps(r.to_json(), ensure_ascii=False), file=out)
        return 0
    if getattr(args, "csv", False):
        out.write(report_csv(result.articles, config.public_url))
        return 0
    report = build_report(result.articles, config.public_url, result.today.isoformat())
    if getattr(args, "report", False):
        print(report_text(report), file=out)
        return 0
    verb = "would" if dry_run else "did"
    print(f"{report['total']} articles on {result.today} ({result.week_key}): " + ", ".join(
        f"{k} {v}" for k, v in report["counts"].items()) + f"; trust {report['trust']:.0%}",
        file=out)
    print(f"{len(result.changes)} change(s) {verb} apply" + (":" if result.changes else "."),
          file=out)
    for change in result.changes:
        print(f"  {change}", file=out)
    if notify:
        print(f"{len(result.sends)} notification(s):", file=out)
        for send in result.sends:
            print(f"  {send}", file=out)
        if not result.sends and not notifiers(config.channels):
            print("  no notifier configured (SMTP_HOST, SLACK_WEBHOOK_URL, TEAMS_WEBHOOK_URL)",
                  file=out)
    return 0


def _dry_run(engine: Engine, config: FreshnessConfig, articles: Any,
             now: dt.datetime | dt.date, notify: bool, write_banners: bool) -> JobResult:
    """Plan against the real database when it has the schema; else against an empty one in
    memory, so a dry run never creates or changes anything."""
    if not schema_ready(engine):
        engine = create_engine("sqlite://")
        Base.metadata.create_all(engine, tables=TABLES)
    with Session(engine) as session:
        return job_for(config).run(session, articles, now, dry_run=True, notify=notify,
                                   write_banners=write_banners)
