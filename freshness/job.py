"""The freshness job: states, review tasks, banners, reviews and notifications, idempotently.

Four steps, each answering one question: ``assess`` (pure: every article's state today, given
the database's ``History``), ``reconcile`` (record states and review tasks), ``sync_banners``
(the files' "unverified" banner) and ``Job.send`` (digests and summaries, once per week). The
report, the lookup and a review's answer call only ``assess``; ``Job.run`` chains all four.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from freshness import banners
from freshness.digest import Item, digests, summaries, week_key
from freshness.models import (
    ArticleVoteRow,
    FreshnessStateRow,
    NotificationRow,
    ReviewActionRow,
    ReviewTaskRow,
    utcnow,
)
from freshness.notify import Message, Notifier, deliver
from freshness.ownership import resolve
from freshness.policy import (
    PolicyConfig,
    Status,
    Votes,
    count_votes,
    evaluate,
    flagged_by_votes,
    local_date,
)
from indexer.article import Article, Audience
from indexer.files import RefusedFile
from indexer.teams import TeamsConfig

log = logging.getLogger("fieldguide.freshness")

# A "sending" claim older than this is taken as a crashed run and may be retried.
STALE_CLAIM = dt.timedelta(hours=1)

# team id -> (alerts with a runbook within its review date, alerts), given each article's state.
CoverageFn = Callable[[Session, Mapping[str, Status]], Mapping[str, tuple[int, int]]]
# team id -> (incidents covered, incidents counted, pending, target), given the articles and now.
RatioFn = Callable[[Session, Sequence[Article], dt.datetime],
                   Mapping[str, tuple[int, int, int, float]]]


def received_coverage(session: Session, statuses: Mapping[str, Status]) -> dict[str, tuple[int, int]]:
    """Runbook coverage per team from the alerts alert intake received (``incidents``)."""
    from incidents.coverage import team_coverage  # the incident side adds a line; no more

    return team_coverage(session, statuses)


def received_ratio(session: Session, articles: Sequence[Article],
                   now: dt.datetime) -> dict[str, tuple[int, int, int, float]]:
    """The incident-to-article ratio per team from the incident records (``incidents``)."""
    from incidents.report import team_ratios  # the incident side adds a line; no more

    return team_ratios(session, articles, now)


def with_ratio(message: Message, covered: int, counted: int, pending: int,
               target: float, days: int = 28) -> Message:
    """A team summary with its incident-to-article ratio line appended (the last ``days``)."""
    wait = f"; {pending} still within their window" if pending else ""
    if counted:
        value = covered / counted
        line = (f"Incident-to-article ratio (last {days} days): {covered}/{counted} resolved "
                f"incidents produced a new or updated article ({value:.0%}, target "
                f"{target:.0%}){wait}" + (" - below target." if value < target
                                          else " - on target."))
    else:
        line = (f"Incident-to-article ratio (last {days} days): no resolved incident to count "
                f"yet{wait}.")
    return replace(message, text=f"{message.text}\n\n{line}",
                   facts=(*message.facts, ("incident-to-article", f"{covered}/{counted}")),
                   extra={**message.extra, "incident_ratio": {
                       "covered": covered, "counted": counted, "pending": pending,
                       "value": round(covered / counted, 4) if counted else None,
                       "target": target, "days": days}})


def with_coverage(message: Message, fresh: int, total: int) -> Message:
    """A team summary with its runbook-coverage line appended."""
    line = (f"Runbook coverage: {fresh}/{total} alerts seen have a runbook within its review "
            f"date ({fresh / total:.0%}).")
    return replace(message, text=f"{message.text}\n\n{line}",
                   facts=(*message.facts, ("runbook coverage", f"{fresh}/{total}")),
                   extra={**message.extra, "coverage": {"fresh": fresh, "alerts": total}})


@dataclass
class ArticleResult:
    """One article's verdict; ``to_json`` is the CLI contract."""

    id: str
    path: str
    title: str
    status: Status
    review_by: dt.date | None
    assignee: str
    assigned_because: str
    banner: bool
    team: str | None
    services: tuple[str, ...]
    owner: str | None
    reviewed_on: dt.date | None
    unverified_since: dt.date | None
    retired: bool = False
    undated_since: dt.date | None = None  # first seen without any date
    votes: Votes = Votes.NONE  # readers' votes that count now (policy.count_votes)
    flagged: bool = False  # readers' votes call for a review before review-by
    reviewed_by: str | None = None  # who recorded the last review (API or Git)
    audience: tuple[Audience, ...] = (Audience.ENGINEER,)  # who may read it: what a message
    # to a team may name (freshness.digest.nameable)

    @property
    def needs_review(self) -> bool:
        """Past review-by, or flagged by readers' votes (and not retired)."""
        return not self.retired and (self.flagged
                                     or self.status in (Status.STALE, Status.UNVERIFIED))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "status": self.status.value,
                "review_by": self.review_by.isoformat() if self.review_by else None,
                "assignee": self.assignee, "assigned_because": self.assigned_because,
                "banner": self.banner}


@dataclass(frozen=True)
class Change:
    article_id: str
    action: str  # track, status, reassign, open-task, update-task, close-task, banner-on, ...
    detail: str = ""

    def __str__(self) -> str:
        tail = f"  ({self.detail})" if self.detail else ""
        return f"{self.action:<13} {self.article_id}{tail}"


@dataclass(frozen=True)
class SendResult:
    kind: str
    recipient: str
    channel: str
    address: str
    status: str  # sent | failed | already-sent | claimed-elsewhere | would-send
    attempts: int = 0
    error: str | None = None

    def __str__(self) -> str:
        tail = f" after {self.attempts} attempt(s): {self.error}" if self.error else ""
        return f"{self.status:<13} {self.kind} to {self.recipient} via {self.channel}{tail}"


@dataclass
class JobResult:
    today: dt.date
    week_key: str
    dry_run: bool
    articles: list[ArticleResult] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    sends: list[SendResult] = field(default_factory=list)
    skipped: str | None = None  # why the job did not run (lock held elsewhere)

    def counts(self) -> dict[str, int]:
        return {s.value: sum(a.status is s and not a.retired for a in self.articles)
                for s in Status}


def _items(results: Sequence[ArticleResult], teams: TeamsConfig) -> list[Item]:
    out = []
    for r in results:
        team = teams.teams.get(r.assignee)
        person = team is None and r.assignee != "unassigned" and "@" in r.assignee
        out.append(Item(
            id=r.id, title=r.title, status=r.status, review_by=r.review_by, assignee=r.assignee,
            assignee_email=r.assignee if person else (team.email if team else None),
            assignee_channel=None if person or team is None else team.channel,
            team=r.team, unverified_since=r.unverified_since, retired=r.retired,
            flagged=r.flagged and not r.retired, unhelpful=r.votes.unhelpful,
            audience=r.audience, owner=r.owner))
    return out


def _recorded_reviews(session: Session) -> tuple[dict[str, dt.date], set[str], dict[str, str]]:
    """Latest API/Git review date per article, the articles whose last review retired them, and
    who made each article's last review."""
    latest: dict[str, dt.date] = {
        article_id: day for article_id, day in session.execute(
            select(ReviewActionRow.article_id, func.max(ReviewActionRow.reviewed_on))
            .group_by(ReviewActionRow.article_id))}
    last_outcome: dict[str, str] = {}
    reviewer: dict[str, str] = {}
    for row in session.scalars(select(ReviewActionRow).order_by(ReviewActionRow.reviewed_at,
                                                                ReviewActionRow.id)):
        last_outcome[row.article_id] = row.outcome
        reviewer[row.article_id] = row.reviewer
    retired = {a for a, outcome in last_outcome.items() if outcome == "retire"}
    return latest, retired, reviewer


def _unverified_since(review_by: dt.date | None, undated_since: dt.date | None,
                      config: PolicyConfig) -> dt.date | None:
    start = review_by if review_by is not None else undated_since
    return start + dt.timedelta(days=config.grace_days + 1) if start is not None else None


def banner_text(r: ArticleResult) -> str:
    """The banner's words; stable for a given review state so files are not rewritten daily."""
    since = (f"has not been reviewed since {r.reviewed_on.isoformat()}" if r.reviewed_on
             else "has never been reviewed")
    due = f" (review was due {r.review_by.isoformat()})" if r.review_by else ""
    return (f"**Unverified:** this article {since}{due} and may be out of date.\n"
            f"Owner: {r.assignee}. Use it with care and report anything wrong.")


@dataclass(frozen=True)
class Previous:
    """What the job recorded for an article on its last run."""

    reviewed_on: dt.date | None
    undated_since: dt.date | None


@dataclass(frozen=True)
class History:
    """What the database knows that the files do not: the job's last record per article, and
    reviews made through the API (or found in Git)."""

    previous: dict[str, Previous] = field(default_factory=dict)
    recorded: dict[str, dt.date] = field(default_factory=dict)  # latest review per article
    retired: frozenset[str] = frozenset()  # articles whose last review retired them
    reviewers: dict[str, str] = field(default_factory=dict)  # who made the last review
    # Readers' votes per article since the history's vote floor: (day cast, helpful) per voter.
    votes: dict[str, tuple[tuple[dt.date, bool], ...]] = field(default_factory=dict)

    EMPTY: ClassVar[History]


History.EMPTY = History()


def vote_floor(now: dt.datetime | dt.date, config: PolicyConfig) -> dt.datetime:
    """The oldest vote time any article's count may need (the window, plus a day of time zones)."""
    day = local_date(now, config.timezone) - dt.timedelta(days=config.vote_window_days + 1)
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def load_history(session: Session, votes_since: dt.datetime | None = None,
                 timezone: str = "UTC") -> History:
    """What the database knows; readers' votes from ``votes_since`` on (None: no votes), each
    dated in ``timezone`` like the policy's today."""
    recorded, retired, reviewers = _recorded_reviews(session)
    previous = {r.article_id: Previous(r.reviewed_on, r.undated_since)
                for r in session.scalars(select(FreshnessStateRow))}
    votes: dict[str, list[tuple[dt.date, bool]]] = {}
    if votes_since is not None:
        for article_id, helpful, voted_at in session.execute(
                select(ArticleVoteRow.article_id, ArticleVoteRow.helpful, ArticleVoteRow.voted_at)
                .where(ArticleVoteRow.voted_at >= votes_since)):
            votes.setdefault(article_id, []).append((local_date(voted_at, timezone),
                                                     bool(helpful)))
    return History(previous, recorded, frozenset(retired), reviewers,
                   {a: tuple(v) for a, v in votes.items()})


def assess(articles: Sequence[Article], history: History, teams: TeamsConfig, today: dt.date,
           config: PolicyConfig | None = None) -> list[ArticleResult]:
    """Every article's state on ``today``: pure, the one computation behind the job, the
    report, the lookup search reads and a review's answer."""
    config = config or PolicyConfig()
    out = []
    for a in sorted(articles, key=lambda x: x.id):
        prev = history.previous.get(a.id)
        undated = a.last_reviewed is None and a.created is None
        undated_since = ((prev.undated_since if prev and prev.undated_since else today)
                         if undated else None)
        verdict = evaluate(a, teams, today, config, history.recorded.get(a.id), undated_since)
        who = resolve(a, teams)
        is_retired = a.id in history.retired
        votes = count_votes(history.votes.get(a.id, ()), today, verdict.reviewed_on, config)
        out.append(ArticleResult(
            id=a.id, path=a.path, title=a.title, status=verdict.status, audience=a.audience,
            review_by=verdict.review_by, assignee=who.assignee, assigned_because=who.reason,
            banner=verdict.banner and not is_retired,
            team=who.team.id if who.team else teams.default_team, services=a.services,
            owner=a.owner, reviewed_on=verdict.reviewed_on,
            unverified_since=(_unverified_since(verdict.review_by, undated_since, config)
                              if verdict.status is Status.UNVERIFIED else None),
            retired=is_retired, undated_since=undated_since, votes=votes,
            flagged=flagged_by_votes(votes, config) and not is_retired,
            reviewed_by=history.reviewers.get(a.id)))
    return out


@dataclass
class Job:
    """The freshness job: assess, then act on the differences with the database.

        >>> job = Job(teams, policy, notifiers=notifiers(config.channels),
        ...           public_url=config.public_url)
        >>> result = job.run(session, articles, dt.datetime.now(dt.UTC), notify=True)
        >>> for change in result.changes: print(change)

    The job commits its own work (state first, then each notification log row as it is sent,
    so a crash never causes a resend). ``dry_run`` writes nothing and sends nothing.
    """

    teams: TeamsConfig
    config: PolicyConfig = field(default_factory=PolicyConfig)
    notifiers: Sequence[Notifier] = ()
    public_url: str = "http://localhost:8000"
    content_dir: Path | None = None  # where write_banners edits the files
    retries: int = 3
    backoff: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    coverage: CoverageFn | None = received_coverage  # each team summary's coverage line
    ratio: RatioFn | None = received_ratio  # each team summary's incident-to-article line

    def run(self, session: Session, articles: Sequence[Article], now: dt.datetime | dt.date,
            *, dry_run: bool = False, notify: bool = False,
            write_banners: bool = False) -> JobResult:
        today = local_date(now, self.config.timezone)
        result = JobResult(today, week_key(today), dry_run)
        history = load_history(session, vote_floor(today, self.config), self.config.timezone)
        result.articles = assess(articles, history, self.teams, today, self.config)
        result.changes = reconcile(session, articles, result.articles, history, today,
                                   dry_run=dry_run)
        if write_banners and self.content_dir is not None:
            result.changes += sync_banners(result.articles, self.content_dir, dry_run=dry_run)
        if notify:
            result.sends = self.send(session, result.articles, today, result.week_key, dry_run,
                                     articles=articles, now=now)
        return result

    def send(self, session: Session, results: Sequence[ArticleResult], today: dt.date,
             week: str, dry_run: bool, *, articles: Sequence[Article] = (),
             now: dt.datetime | dt.date | None = None) -> list[SendResult]:
        """Each owner's digest and each team's summary, once per week and channel.

        ``articles`` and ``now``: what the incident-to-article line is computed from (the
        incidents resolved in the 28 days before ``now``)."""
        items = _items(results, self.teams)
        team_summaries = summaries(items, self.teams, today, self.public_url)
        if self.coverage is not None:
            covered = self.coverage(session, {r.id: r.status for r in results if not r.retired})
            team_summaries = [with_coverage(m, *covered[m.recipient])
                              if covered.get(m.recipient, (0, 0))[1] else m
                              for m in team_summaries]
        if self.ratio is not None:
            team_summaries = self._with_ratios(session, team_summaries, articles, now or today)
        messages = digests(items, today, self.public_url) + team_summaries
        out = []
        for message in messages:
            for notifier in self.notifiers:
                sent = _send(session, notifier, message, week, dry_run, self.retries,
                             self.backoff, self.sleep)
                if sent is not None:
                    out.append(sent)
        return out


    def _with_ratios(self, session: Session, messages: list[Message],
                     articles: Sequence[Article], now: dt.datetime | dt.date) -> list[Message]:
        assert self.ratio is not None
        when = (now if isinstance(now, dt.datetime)
                else dt.datetime.combine(now, dt.time(12), tzinfo=dt.UTC))
        try:
            ratios = self.ratio(session, articles, when)
        except (SQLAlchemyError, ValueError) as exc:  # a bad setting, a database error: the
            # summary still goes, without the line
            session.rollback()
            log.warning("incident-to-article line left out: %s", exc.__class__.__name__)
            return messages
        return [with_ratio(m, *ratios[m.recipient]) if m.recipient in ratios else m
                for m in messages]


def reconcile(session: Session, articles: Sequence[Article], results: Sequence[ArticleResult],
              history: History, today: dt.date, *, dry_run: bool) -> list[Change]:
    """Record states, review tasks and Git reviews for ``results`` (all of the content: an
    article missing from it is marked gone); commit unless ``dry_run``."""
    changes: list[Change] = []
    states = {r.article_id: r for r in session.scalars(select(FreshnessStateRow))}
    tasks = {r.article_id: r for r in session.scalars(
        select(ReviewTaskRow).where(ReviewTaskRow.state == "open"))}
    by_id = {a.id: a for a in articles}
    for r in results:
        prev = states.get(r.id)
        in_file = by_id[r.id].last_reviewed
        # Git-based review: `last_reviewed` moved forward in the file since the last run.
        if (prev is not None and in_file is not None and prev.reviewed_on is not None
                and in_file > prev.reviewed_on
                and in_file > history.recorded.get(r.id, dt.date.min)):
            changes.append(Change(r.id, "git-review", f"last_reviewed {in_file.isoformat()}"))
            if not dry_run:
                session.add(ReviewActionRow(article_id=r.id, reviewer=r.owner or "git",
                                            outcome="updated", reviewed_on=in_file, via="git",
                                            note="last_reviewed moved forward in the file"))
        _plan_state(session, r, prev, tasks.get(r.id), r.undated_since, today, dry_run, changes)
    for article_id, row in states.items():
        if article_id in by_id or not row.present:
            continue
        changes.append(Change(article_id, "gone", "no longer in the content"))
        task = tasks.get(article_id)
        if task is not None:
            changes.append(Change(article_id, "close-task", "article removed"))
        if not dry_run:
            row.present, row.banner, row.banner_since = False, False, None
            row.updated_at = utcnow()
            if task is not None:
                task.state, task.closed_on, task.close_reason = "closed", today, "removed"
    if not dry_run:
        session.commit()
    return changes


def sync_banners(results: Sequence[ArticleResult], content_dir: Path, *,
                 dry_run: bool) -> list[Change]:
    """The "unverified" banner written into (or removed from) each article's file."""
    changes = []
    for r in results:
        path = content_dir / r.path
        if not path.exists():
            continue
        try:
            changed = banners.sync_banner(path, banner_text(r) if r.banner else None,
                                          dry_run=dry_run)
        except (RefusedFile, OSError) as exc:
            # Never edit through a symlink or a file that changed under us: say so and go on.
            log.warning("banner not written to %s: %s", r.path, exc)
            continue
        if changed:
            changes.append(Change(r.id, "write-banner" if r.banner else "remove-banner",
                                  r.path))
    return changes


def _plan_state(session: Session, r: ArticleResult, prev: FreshnessStateRow | None,
                task: ReviewTaskRow | None, undated_since: dt.date | None, today: dt.date,
                dry_run: bool, changes: list[Change]) -> None:
    """Record what changes for one article; apply it unless ``dry_run``."""
    if prev is None:
        changes.append(Change(r.id, "track", r.status.value))
    else:
        if prev.status != r.status.value:
            changes.append(Change(r.id, "status", f"{prev.status} -> {r.status.value}"))
        if (prev.assignee, prev.assigned_because) != (r.assignee, r.assigned_because):
            changes.append(Change(r.id, "reassign", f"{prev.assignee} -> {r.assignee} "
                                  f"({r.assigned_because})"))
        if not prev.present:
            changes.append(Change(r.id, "back", "present in the content again"))
    was_banner = bool(prev and prev.banner)
    if r.banner != was_banner:
        changes.append(Change(r.id, "banner-on" if r.banner else "banner-off"))
    needs_task = r.needs_review
    if needs_task and task is None:
        changes.append(Change(r.id, "open-task", f"assigned to {r.assignee}"))
    elif needs_task and task is not None and (task.assignee, task.status, task.review_by) != (
            r.assignee, r.status.value, r.review_by):
        changes.append(Change(r.id, "update-task", f"{r.status.value}, {r.assignee}"))
    elif not needs_task and task is not None:
        changes.append(Change(r.id, "close-task", "retired" if r.retired else "reviewed"))
    if dry_run:
        return
    values = dict(
        path=r.path, title=r.title, status=r.status.value, review_by=r.review_by,
        reviewed_on=r.reviewed_on, assignee=r.assignee, assigned_because=r.assigned_because,
        team=r.team, services=list(r.services), banner=r.banner,
        banner_since=(prev.banner_since if was_banner and prev else today) if r.banner else None,
        undated_since=undated_since, unverified_since=r.unverified_since, retired=r.retired,
        present=True)
    if prev is None:
        session.add(FreshnessStateRow(article_id=r.id, updated_at=utcnow(), **values))
    elif any(getattr(prev, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(prev, k, v)
        prev.updated_at = utcnow()
    if needs_task and task is None:
        session.add(ReviewTaskRow(article_id=r.id, state="open", status=r.status.value,
                                  assignee=r.assignee, assigned_because=r.assigned_because,
                                  review_by=r.review_by, opened_on=today, updated_at=utcnow()))
    elif needs_task and task is not None:
        if (task.assignee, task.status, task.review_by) != (r.assignee, r.status.value,
                                                             r.review_by):
            task.assignee, task.assigned_because = r.assignee, r.assigned_because
            task.status, task.review_by, task.updated_at = r.status.value, r.review_by, utcnow()
    elif task is not None:
        task.state, task.closed_on, task.updated_at = "closed", today, utcnow()
        task.close_reason = "retired" if r.retired else "reviewed"


def _send(session: Session, notifier: Notifier, message: Message, week: str, dry_run: bool,
          retries: int, backoff: float, sleep: Callable[[float], None]) -> SendResult | None:
    """Send once per (kind, recipient, channel, week): claim a log row first, then deliver."""
    address = notifier.address(message)
    if address is None:
        return None
    key = (message.kind, message.recipient, notifier.name)
    row = session.scalars(select(NotificationRow).where(
        NotificationRow.kind == message.kind, NotificationRow.recipient == message.recipient,
        NotificationRow.channel == notifier.name, NotificationRow.week_key == week)).first()
    if row is not None and (row.status == "sent" or (
            row.status == "sending" and utcnow() - _aware(row.created_at) < STALE_CLAIM)):
        return SendResult(*key, address, "already-sent", row.attempts)
    if dry_run:
        return SendResult(*key, address, "would-send")
    if row is None:
        # The claim: a unique row per week, so a concurrent run (without the lock) backs off.
        row = NotificationRow(kind=message.kind, recipient=message.recipient,
                              channel=notifier.name, address=address, week_key=week,
                              payload_hash=message.payload_hash, status="sending", attempts=0,
                              created_at=utcnow())
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return SendResult(*key, address, "claimed-elsewhere")
    else:
        row.status, row.created_at = "sending", utcnow()
        session.commit()
    delivery = deliver(notifier, message, retries=retries, backoff=backoff, sleep=sleep)
    row.attempts += delivery.attempts
    row.payload_hash = message.payload_hash
    row.status = "sent" if delivery.ok else "failed"
    row.error = delivery.error
    row.sent_at = utcnow() if delivery.ok else None
    session.commit()
    return SendResult(*key, address, row.status, row.attempts, delivery.error)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite gives back naive datetimes; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
