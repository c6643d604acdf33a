"""Running the job from settings: content loading, the locked run, the scheduler, reviews, lookups.

Nothing here imports FastAPI or ``app``: the service passes its settings and its engine.
Usage from a lifespan::

    freshness = FreshnessService(engine, settings, article=..., articles=...)
    freshness.refresh()    # the first map of every article's state, before serving
    freshness.start()      # the scheduled job (nothing when freshness_schedule_hours is 0)
    ...
    freshness.stop()
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from freshness.config import FreshnessConfig
from freshness.digest import week_key
from freshness.job import (
    ArticleResult,
    History,
    Job,
    JobResult,
    assess,
    load_history,
    vote_floor,
)
from freshness.lock import job_lock
from freshness.models import ReviewActionRow
from freshness.notify import Notifier, notifiers
from freshness.policy import Freshness, evaluate, local_date
from indexer.article import Article
from indexer.teams import TEAMS_FILE, TeamsConfig

log = logging.getLogger("fieldguide.freshness")

OUTCOMES = ("still-accurate", "updated", "retire")


def load_teams(config: FreshnessConfig) -> TeamsConfig:
    teams, issues = TeamsConfig.load(Path(config.content_dir) / TEAMS_FILE)
    for issue in issues:
        log.warning("%s", issue)
    return teams


def load_articles(config: FreshnessConfig) -> list[Article]:
    """Articles from the current index snapshot, else by scanning the content directory."""
    from indexer.snapshot import Snapshot, SnapshotError

    try:
        return Snapshot.load(Path(config.index_path)).articles
    except (SnapshotError, OSError):
        from indexer.content import scan_content

        return scan_content(Path(config.content_dir),
                            default_audience=config.default_audience,
                            audiences=config.audiences).articles


def schema_ready(engine: Engine) -> bool:
    tables = set(inspect(engine).get_table_names())
    return {"freshness_state", "freshness_notifications"} <= tables


def job_for(config: FreshnessConfig, teams: TeamsConfig | None = None,
            channels: Sequence[Notifier] | None = None) -> Job:
    """The job as ``config`` describes it (its teams, policy, channels, links, files)."""
    return Job(load_teams(config) if teams is None else teams, config.policy,
               notifiers(config.channels) if channels is None else channels,
               public_url=config.public_url, content_dir=config.content_dir,
               retries=config.channels.retries, backoff=config.channels.backoff_seconds)


def run_locked(engine: Engine, config: FreshnessConfig, now: dt.datetime | dt.date, *,
               notify: bool, articles: Sequence[Article] | None = None,
               channels: Sequence[Notifier] | None = None,
               write_banners: bool = False) -> JobResult:
    """The job under the database lock; when another replica holds it, nothing happens."""
    with job_lock(engine) as held:
        if not held:
            day = local_date(now, config.policy.timezone)
            return JobResult(day, week_key(day), dry_run=False,
                             skipped="another replica holds the freshness lock")
        with Session(engine) as session:
            return job_for(config, channels=channels).run(
                session, list(articles) if articles is not None else load_articles(config),
                now, notify=notify, write_banners=write_banners)


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


@dataclass(frozen=True)
class ReviewOutcome:
    article_id: str
    outcome: str
    reviewer: str
    reviewed_at: dt.datetime
    freshness: Freshness


def record_review(engine: Engine, config: FreshnessConfig, article: Article, outcome: str,
                  reviewer: str, now: dt.datetime, note: str | None = None,
                  teams: TeamsConfig | None = None) -> ReviewOutcome:
    """Record a review (the audit trail); the answer is the article's state with it."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r} (allowed: {', '.join(OUTCOMES)})")
    today = local_date(now, config.policy.timezone)
    with Session(engine) as session:
        session.add(ReviewActionRow(article_id=article.id, reviewer=reviewer, outcome=outcome,
                                    reviewed_on=today, reviewed_at=now, via="api", note=note))
        session.commit()
        history = load_history(session, vote_floor(now, config.policy), config.policy.timezone)
    r = assess([article], history, load_teams(config) if teams is None else teams, today,
               config.policy)[0]
    return ReviewOutcome(article.id, outcome, reviewer, now,
                         Freshness(r.status, r.review_by, r.banner))


class FreshnessService:
    """The freshness side of a running service: the scheduled job, reviews, the report, and
    every shown article's ``Freshness`` (it implements ``FreshnessSource``).

    Search shows the freshness of every result, so ``freshness(id)`` answers from memory and
    never touches the database: every article's state is computed in one pass (one query per
    table, ~0.1 s for 2,500 articles) and kept for ``ttl`` seconds. ``refresh()`` recomputes at
    once (after a review or a job run in this process); a review made through another replica
    shows here within ``ttl``. An expired map is rebuilt on a background thread while requests
    keep reading the previous one; an article the map has not seen yet (a reindex just added
    or edited it) gets the policy computed from its front matter in memory, and a rebuild is
    started behind it.

        >>> service = FreshnessService(engine, settings, article=..., articles=...)
        >>> service.refresh()           # blocking: the first map, before serving
        >>> service.freshness("vpn-gateway-unreachable").status
        <Status.FRESH: 'fresh'>
    """

    def __init__(self, engine: Engine, config: FreshnessConfig,
                 article: Callable[[str], Article | None],
                 articles: Callable[[], Iterable[Article]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.config = config
        self.article = article
        self.articles = articles
        self.ttl = config.lookup_seconds
        self.clock = clock
        self._teams: TeamsConfig | None = None
        # article id -> (the Article the answer was computed for, the answer)
        self._memo: dict[str, tuple[Article, Freshness]] = {}
        # What the map was computed from (``_rebuild``): (today, history, teams, policy), articles.
        self._inputs: tuple[tuple[Any, ...], list[Article]] | None = None
        self._expires = -math.inf
        self._refreshing = threading.Lock()
        self._scheduler: Scheduler | None = None
        # Articles whose last review retired them, and who is told when that set is rebuilt
        # (the service withdraws them from search and chat).
        self.retired: frozenset[str] = frozenset()
        self.on_retired: Callable[[frozenset[str]], None] | None = None

    # -- the lookup (memory only) ------------------------------------------------------
    def freshness(self, article_id: str) -> Freshness:
        memo = self._current()
        hit = memo.get(article_id)
        article = self.article(article_id)
        if hit is not None:
            computed_for, answer = hit
            # A computed answer holds for the article it was computed from (not a newer edit).
            if article is computed_for:
                return answer
        if article is None:
            return Freshness.UNKNOWN
        verdict = evaluate(article, self.teams(), dt.datetime.now(dt.UTC), self.config.policy)
        answer = Freshness(verdict.status, verdict.review_by, verdict.banner)
        memo[article_id] = (article, answer)
        self.refresh_soon()  # the stored state and recorded reviews follow in the background
        return answer

    def teams(self) -> TeamsConfig:
        if self._teams is None:
            self._teams = load_teams(self.config)
        return self._teams

    def refresh(self) -> None:
        """Recompute every article's answer now (blocking: call it off the request path)."""
        with self._refreshing:
            self._rebuild()

    def refresh_soon(self) -> None:
        """Start a rebuild on a background thread unless one is already running."""
        if self._refreshing.acquire(blocking=False):
            self._expires = self.clock() + self.ttl
            threading.Thread(target=self._background, name="freshness-lookup",
                             daemon=True).start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for a background rebuild to finish (tests, shutdown)."""
        if not self._refreshing.acquire(timeout=timeout):
            return False
        self._refreshing.release()
        return True

    def _rebuild(self) -> None:
        started = self.clock()
        with Session(self.engine) as session:
            history = self._history(session, dt.datetime.now(dt.UTC))
        today = local_date(dt.datetime.now(dt.UTC), self.config.policy.timezone)
        listed = list(self.articles())
        # The states are a pure function of these: when none changed since the last rebuild
        # (the same article objects, history, teams and day), the map stands as it is. At
        # 50,000 articles the assessment is ~1 s of Python with the GIL held, every ``ttl``.
        teams = self.teams()
        inputs = (today, history, teams, self.config.policy)
        if self._inputs is not None and self._inputs[0] == inputs \
                and len(self._inputs[1]) == len(listed) \
                and all(map(operator.is_, self._inputs[1], listed)):
            self._expires = started + self.ttl
            return
        articles = {a.id: a for a in listed}
        results = assess(list(articles.values()), history, teams, today, self.config.policy)
        self._inputs = (inputs, listed)
        self._memo = {r.id: (articles[r.id], Freshness(r.status, r.review_by, r.banner))
                      for r in results}
        self.retired = frozenset(r.id for r in results if r.retired)
        if self.on_retired is not None:
            self.on_retired(self.retired)
        self._expires = started + self.ttl

    def _history(self, session: Session, now: dt.datetime) -> History:
        policy = self.config.policy
        return load_history(session, vote_floor(now, policy), policy.timezone)

    def _current(self) -> dict[str, tuple[Article, Freshness]]:
        if self.clock() >= self._expires:
            self.refresh_soon()
        return self._memo

    def _background(self) -> None:
        try:
            self._rebuild()
        except Exception:  # the previous map stays; the next expiry tries again
            log.exception("refreshing the freshness lookup failed")
        finally:
            self._refreshing.release()

    # -- the job, reviews, the report --------------------------------------------------
    def start(self) -> None:
        """Start the scheduled run (not when ``freshness_schedule_hours`` is 0)."""
        hours = self.config.schedule_hours
        if hours <= 0 or self._scheduler is not None:
            return
        warning = self.config.unset_url_warning() if self.config.notify else None
        if warning:
            log.warning("WARNING %s", warning)
        self._scheduler = Scheduler(self.run_scheduled, hours * 3600,
                                    self.config.first_run_seconds).start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        self.wait_idle()

    @property
    def scheduler(self) -> Scheduler | None:
        return self._scheduler

    def run_scheduled(self) -> JobResult:
        result = run_locked(self.engine, self.config, dt.datetime.now(dt.UTC),
                            notify=self.config.notify, articles=list(self.articles()))
        self.refresh()  # searches show the new states at once
        if result.skipped:
            log.info("freshness run skipped: %s", result.skipped)
        else:
            log.info("freshness run: %s, %d change(s), %d send(s)", result.counts(),
                     len(result.changes), len(result.sends))
        return result

    def review(self, article: Article, outcome: str, reviewer: str, now: dt.datetime,
               note: str | None = None) -> ReviewOutcome:
        done = record_review(self.engine, self.config, article, outcome, reviewer, now, note,
                             teams=self.teams())
        self.refresh()  # the next search shows the review
        return done

    def assess(self, articles: Sequence[Article], now: dt.datetime) -> list[ArticleResult]:
        """Every given article's state now, stored reviews included; writes nothing."""
        with Session(self.engine) as session:
            history = self._history(session, now)
        return assess(articles, history, self.teams(),
                      local_date(now, self.config.policy.timezone), self.config.policy)
