"""The review policy: review-by dates and freshness states, pure functions of a given clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol
from zoneinfo import ZoneInfo

from indexer.article import Article
from indexer.ownership import owning_team
from indexer.teams import TeamsConfig

DEFAULT_INTERVAL_DAYS = 90


class Status(StrEnum):
    """Freshness states, from best to worst."""

    FRESH = "fresh"  # more than `due_soon_days` before review-by
    DUE_SOON = "due_soon"  # 0..due_soon_days days left (review-by day included)
    STALE = "stale"  # past review-by, up to `grace_days`: flagged and assigned
    UNVERIFIED = "unverified"  # past review-by by more than `grace_days`: the banner goes up

    @classmethod
    def parse(cls, value: str) -> Status:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown freshness status {value!r} (allowed: {allowed})") from None


@dataclass(frozen=True)
class Freshness:
    """What a reader is told about an article's freshness: one type across every package.

    ``status`` and ``review_by`` are ``None`` when nothing is known (no provider, an article the
    job has not seen); ``banner`` is True when the "unverified" warning must show."""

    status: Status | None
    review_by: dt.date | None
    banner: bool

    UNKNOWN: ClassVar[Freshness]


Freshness.UNKNOWN = Freshness(None, None, False)


class FreshnessSource(Protocol):
    """Where search results, pages, chat answers and channel posts get freshness from. Called
    once per shown article, so it answers from memory and never blocks on the database."""

    def freshness(self, article_id: str) -> Freshness:
        """The article's freshness; ``Freshness.UNKNOWN`` when the source knows nothing."""
        ...


@dataclass(frozen=True)
class PolicyConfig:
    """Knobs of the policy; the defaults are the documented ones."""

    default_interval_days: int = DEFAULT_INTERVAL_DAYS
    due_soon_days: int = 14
    grace_days: int = 14
    timezone: str = "UTC"
    # Readers' votes: this many "not helpful" votes in the window, and more of them than
    # "helpful" ones, flag an article for review before its date (0: votes never flag).
    unhelpful_votes: int = 3
    vote_window_days: int = 30

    def __post_init__(self) -> None:
        if self.default_interval_days < 1:
            raise ValueError("default_interval_days must be at least 1")
        if self.due_soon_days < 0 or self.grace_days < 0:
            raise ValueError("due_soon_days and grace_days must not be negative")
        if self.unhelpful_votes < 0 or self.vote_window_days < 1:
            raise ValueError("unhelpful_votes must not be negative and vote_window_days must "
                             "be at least 1")
        ZoneInfo(self.timezone)  # fail early on an unknown zone name


@dataclass(frozen=True)
class Verdict:
    """The policy's answer for one article on one day."""

    status: Status
    review_by: dt.date | None  # None: no date to start from (stale from the start)
    reviewed_on: dt.date | None  # the date review-by counts from
    interval_days: int
    days_left: int | None  # negative once overdue

    @property
    def banner(self) -> bool:
        return self.status is Status.UNVERIFIED

    @property
    def needs_review(self) -> bool:
        return self.status in (Status.STALE, Status.UNVERIFIED)


@dataclass(frozen=True)
class Votes:
    """Readers' "was this helpful?" votes on one article that count now: cast within the
    window and after the day of its last review (a review answers the earlier ones)."""

    helpful: int = 0
    unhelpful: int = 0

    NONE: ClassVar[Votes]


Votes.NONE = Votes()


def count_votes(votes: Iterable[tuple[dt.date, bool]], today: dt.date,
                reviewed: dt.date | None, config: PolicyConfig) -> Votes:
    """``votes``: (day cast, helpful) per voter. Those older than the window, or cast on or
    before the day of the last review, do not count."""
    start = today - dt.timedelta(days=config.vote_window_days - 1)
    if reviewed is not None and reviewed >= start:
        start = reviewed + dt.timedelta(days=1)
    counted = [helpful for day, helpful in votes if start <= day <= today]
    return Votes(sum(counted), len(counted) - sum(counted))


def flagged_by_votes(votes: Votes, config: PolicyConfig) -> bool:
    """Readers say it does not help: at least ``unhelpful_votes`` of them, and more than say
    it does. Such an article is due for review now, whatever its review-by date."""
    return (config.unhelpful_votes > 0 and votes.unhelpful >= config.unhelpful_votes
            and votes.unhelpful > votes.helpful)


def local_date(now: dt.datetime | dt.date, timezone: str = "UTC") -> dt.date:
    """The calendar date of ``now`` in ``timezone``; a naive datetime is taken as UTC."""
    if isinstance(now, dt.datetime):
        aware = now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
        return aware.astimezone(ZoneInfo(timezone)).date()
    return now


def interval_days(article: Article, teams: TeamsConfig, config: PolicyConfig) -> int:
    """The article's own interval, else its team's override in teams.yaml, else the default."""
    if article.review_interval_days and article.review_interval_days > 0:
        return article.review_interval_days
    team = owning_team(article, teams)
    if team is not None and team.review_interval_days and team.review_interval_days > 0:
        return team.review_interval_days
    return config.default_interval_days


def reviewed_on(article: Article, recorded: dt.date | None = None) -> dt.date | None:
    """The latest of the file's `last_reviewed` (else `created`) and a review recorded in the DB."""
    in_file = article.last_reviewed or article.created
    candidates = [d for d in (in_file, recorded) if d is not None]
    return max(candidates) if candidates else None


def classify(review_by: dt.date | None, today: dt.date, config: PolicyConfig,
             undated_since: dt.date | None = None) -> Status:
    """The state on ``today``. Without a review-by date an article is stale from the start and
    unverified once it has been seen undated for more than the grace period."""
    if review_by is None:
        since = undated_since or today
        return Status.UNVERIFIED if (today - since).days > config.grace_days else Status.STALE
    left = (review_by - today).days
    if left > config.due_soon_days:
        return Status.FRESH
    if left >= 0:
        return Status.DUE_SOON
    if -left <= config.grace_days:
        return Status.STALE
    return Status.UNVERIFIED


def evaluate(article: Article, teams: TeamsConfig, now: dt.datetime | dt.date,
             config: PolicyConfig | None = None, recorded_review: dt.date | None = None,
             undated_since: dt.date | None = None) -> Verdict:
    """Review-by date and state of ``article`` at ``now``.

    Usage: ``evaluate(article, teams, dt.datetime.now(dt.UTC)).status`` -> ``Status.FRESH``.
    """
    config = config or PolicyConfig()
    today = local_date(now, config.timezone)
    interval = interval_days(article, teams, config)
    base = reviewed_on(article, recorded_review)
    review_by = base + dt.timedelta(days=interval) if base is not None else None
    status = classify(review_by, today, config, undated_since)
    days_left = (review_by - today).days if review_by is not None else None
    return Verdict(status, review_by, base, interval, days_left)
