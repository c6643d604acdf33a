"""Running the job from settings: content loading, the locked run, the scheduler, reviews, lookups.

Nothing here imports FastAPI or ``app``: the service passes its settings object (duck-typed)
and its engine. Usage from a lifespan::

    scheduler = start_scheduler(app.state)   # reads .settings and .engine; None when disabled
    ...
    scheduler.stop()
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from freshness.job import JobResult, run_job
from freshness.lock import job_lock
from freshness.models import FreshnessStateRow, ReviewActionRow
from freshness.notify import Notifier, notifiers_from_settings
from freshness.policy import PolicyConfig, local_date
from indexer.article import Article
from indexer.teams import TEAMS_FILE, TeamsConfig

log = logging.getLogger("fieldguide.freshness")

OUTCOMES = ("still-accurate", "updated", "retire")


def policy_from_settings(settings: Any) -> PolicyConfig:
    return PolicyConfig(
        default_interval_days=getattr(settings, "freshness_default_interval_days", 90),
        due_soon_days=getattr(settings, "freshness_due_soon_days", 14),
        grace_days=getattr(settings, "freshness_grace_days", 14),
        timezone=getattr(settings, "freshness_timezone", "UTC"))


def load_teams(settings: Any) -> TeamsConfig:
    teams, issues = TeamsConfig.load(Path(settings.content_dir) / TEAMS_FILE)
    for issue in issues:
        log.warning("%s", issue)
    return teams


def load_articles(settings: Any) -> list[Article]:
    """Articles from the current index snapshot, else by scanning the content directory."""
    from indexer.snapshot import Snapshot, SnapshotError

    try:
        return Snapshot.load(Path(settings.index_path)).articles
    except (SnapshotError, OSError):
        from indexer.content import scan_content

        return scan_content(Path(settings.content_dir),
                            default_audience=settings.default_audience).articles


def schema_ready(engine: Engine) -> bool:
    tables = set(inspect(engine).get_table_names())
    return {"freshness_state", "freshness_notifications"} <= tables


def run_locked(engine: Engine, settings: Any, now: dt.datetime | dt.date, *, notify: bool,
               articles: Sequence[Article] | None = None,
               notifiers: Sequence[Notifier] | None = None, **kwargs: Any) -> JobResult:
    """The job under the database lock; when another replica holds it, nothing happens."""
    with job_lock(engine) as held:
        if not held:
            config = policy_from_settings(settings)
            day = local_date(now, config.timezone)
            from freshness.digest import week_key

            return JobResult(day, week_key(day), dry_run=False,
                             skipped="another replica holds the freshness lock")
        with Session(engine) as session:
            return run_job(
                session, list(articles) if articles is not None else load_articles(settings),
                load_teams(settings), now, notify=notify,
                notifiers=notifiers_from_settings(settings) if notifiers is None else notifiers,
                config=policy_from_settings(settings), public_url=settings.public_url,
                retries=getattr(settings, "notify_retries", 3),
                backoff=getattr(settings, "notify_backoff_seconds", 2.0), **kwargs)


class Scheduler:
    """A daemon thread that runs the job every ``interval`` seconds until ``stop()``."""

    def __init__(self, run: Callable[[], object], interval: float, first_delay: float) -> None:
        self._run = run
        self.interval = interval
        self.first_delay = first_delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="freshness-scheduler",
                                        daemon=True)
        self.runs = 0
        self.last_error: str | None = None

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        delay = self.first_delay
        while not self._stop.wait(delay):
            try:
                self._run()
                self.last_error = None
            except Exception as exc:  # a failed run must not end the schedule
                self.last_error = str(exc)
                log.exception("scheduled freshness run failed")
            self.runs += 1
            delay = self.interval


def start_scheduler(app_state: Any, articles: Callable[[], Sequence[Article]] | None = None
                    ) -> Scheduler | None:
    """Start the scheduled run for a service (``app_state.settings``, ``app_state.engine``).

    ``articles``: where the live articles come from (the service's searcher); default: the
    snapshot on disk. Returns None when ``freshness_schedule_hours`` is 0.
    """
    settings = app_state.settings
    hours = float(getattr(settings, "freshness_schedule_hours", 24.0))
    if hours <= 0:
        return None
    engine: Engine = app_state.engine
    notify = bool(getattr(settings, "freshness_notify", True))

    def run() -> None:
        result = run_locked(engine, settings, dt.datetime.now(dt.UTC), notify=notify,
                            articles=articles() if articles is not None else None)
        lookup = getattr(app_state, "freshness_lookup", None)
        if lookup is not None and hasattr(lookup, "refresh"):
            lookup.refresh()  # searches show the new states at once
        if result.skipped:
            log.info("freshness run skipped: %s", result.skipped)
        else:
            log.info("freshness run: %s, %d change(s), %d send(s)", result.counts(),
                     len(result.changes), len(result.sends))

    return Scheduler(run, hours * 3600,
                     float(getattr(settings, "freshness_first_run_seconds", 60.0))).start()


@dataclass(frozen=True)
class ReviewOutcome:
    article_id: str
    outcome: str
    reviewer: str
    reviewed_at: dt.datetime
    freshness: dict[str, Any]


def record_review(engine: Engine, settings: Any, article: Article, outcome: str, reviewer: str,
                  now: dt.datetime, note: str | None = None) -> ReviewOutcome:
    """Record a review (audit trail) and bring the article's state up to date at once."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r} (allowed: {', '.join(OUTCOMES)})")
    config = policy_from_settings(settings)
    with Session(engine) as session:
        session.add(ReviewActionRow(article_id=article.id, reviewer=reviewer, outcome=outcome,
                                    reviewed_on=local_date(now, config.timezone),
                                    reviewed_at=now, via="api", note=note))
        session.commit()
        result = run_job(session, [article], load_teams(settings), now, config=config,
                         public_url=settings.public_url, partial=True)
    r = result.articles[0]
    return ReviewOutcome(article.id, outcome, reviewer, now, freshness_dict(r.status.value,
                                                                            r.review_by, r.banner))


def freshness_dict(status: str | None, review_by: dt.date | None, banner: bool) -> dict[str, Any]:
    return {"status": status, "review_by": review_by.isoformat() if review_by else None,
            "banner": banner}


class FreshnessLookup:
    """``lookup(article_id)`` -> {status, review_by, banner}: the job's stored state, or the
    policy computed (with recorded reviews) for articles the job has not seen yet.

    Search shows the freshness of every result, so answers come from memory: every article's
    state is computed in one pass (one query per table, ~0.1 s for 2,500 articles) and kept for
    ``ttl`` seconds. ``refresh()`` recomputes at once (after a review or a job run in this
    process); a review made through another replica shows here within ``ttl``. An expired map
    is rebuilt in the background while requests keep reading the previous one.
    """

    def __init__(self, engine: Engine, settings: Any,
                 article: Callable[[str], Article | None],
                 articles: Callable[[], Iterable[Article]] | None = None,
                 ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.settings = settings
        self.article = article
        self.articles = articles
        self.config = policy_from_settings(settings)
        self.ttl = ttl
        self.clock = clock
        self._teams: TeamsConfig | None = None
        # article id -> (the Article the answer was computed for, the answer)
        self._memo: dict[str, tuple[Article | None, dict[str, Any]]] = {}
        self._expires = -math.inf
        self._refreshing = threading.Lock()

    def _teams_config(self) -> TeamsConfig:
        if self._teams is None:
            self._teams = load_teams(self.settings)
        return self._teams

    def refresh(self) -> None:
        """Recompute every article's answer now (blocking)."""
        with self._refreshing:
            self._rebuild()

    def _rebuild(self) -> None:
        started = self.clock()
        memo: dict[str, tuple[Article | None, dict[str, Any]]] = {}
        with Session(self.engine) as session:
            for row in session.scalars(select(FreshnessStateRow).where(FreshnessStateRow.present)):
                memo[row.article_id] = (None, freshness_dict(row.status, row.review_by, row.banner))
            missing = [a for a in (self.articles() if self.articles else ()) if a.id not in memo]
            if missing:
                result = run_job(session, missing, self._teams_config(), dt.datetime.now(dt.UTC),
                                 config=self.config, dry_run=True, partial=True)
                by_id = {a.id: a for a in missing}
                for r in result.articles:
                    memo[r.id] = (by_id[r.id], freshness_dict(
                        r.status.value, r.review_by, r.banner))
        self._memo = memo
        self._expires = started + self.ttl

    def _current(self) -> dict[str, tuple[Article | None, dict[str, Any]]]:
        if self.clock() >= self._expires:
            if self._expires == -math.inf:
                self.refresh()  # the first answer waits for the first map
            elif self._refreshing.acquire(blocking=False):
                self._expires = self.clock() + self.ttl  # one rebuild at a time
                threading.Thread(target=self._background, name="freshness-lookup",
                                 daemon=True).start()
        return self._memo

    def _background(self) -> None:
        try:
            self._rebuild()
        except Exception:  # the previous map stays; the next expiry tries again
            log.exception("refreshing the freshness lookup failed")
        finally:
            self._refreshing.release()

    def __call__(self, article_id: str) -> dict[str, Any] | None:
        memo = self._current()
        hit = memo.get(article_id)
        if hit is not None:
            computed_for, answer = hit
            # A computed answer holds for the article it was computed from (not a newer edit).
            if computed_for is None or self.article(article_id) is computed_for:
                return answer
        article = self.article(article_id)
        if article is None:
            return None
        with Session(self.engine) as session:
            row = session.get(FreshnessStateRow, article_id)
            if row is not None and row.present:
                answer = freshness_dict(row.status, row.review_by, row.banner)
                memo[article_id] = (None, answer)
                return answer
            result = run_job(session, [article], self._teams_config(), dt.datetime.now(dt.UTC),
                             config=self.config, dry_run=True, partial=True)
        r = result.articles[0]
        answer = freshness_dict(r.status.value, r.review_by, r.banner)
        memo[article_id] = (article, answer)
        return answer
