"""Alert intake: resolve each alert of a group to its runbook, keep the group's state, and decide
whether the team's channel hears about it, writing the post to the outbox in the same transaction.

Dedupe by ``groupKey``: a group posts when it starts firing, again only when its set of firing
alerts changes (Alertmanager re-sends an unchanged group every ``repeat_interval``: silence), and a
short "resolved after N min" when it resolves.

    >>> intake = Intake(sessions, resolver=lambda: resolver, teams=lambda: teams,
    ...                 freshness=search.freshness_of, public_url="https://kb.example",
    ...                 channels=("slack",))
    >>> result = intake.receive(parse_alertmanager(body))
    >>> result.decision, [o.runbook.article.id for o in result.outcomes if o.runbook]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from freshness.policy import Freshness
from incidents.models import AlertGroupRow, AlertSeenRow, ChannelPostRow, DeliveryRow, utcnow
from incidents.payloads import Alert, AlertGroup, AlertStatus, PagerDutyEvent
from incidents.posts import (
    KEY_LABELS,
    AlertView,
    message_json,
    render_firing,
    render_resolved,
    runbook_view,
    template_url,
)
from incidents.runbooks import Resolution, Runbook, RunbookResolver, TeamChoice, choose_team
from indexer.teams import TeamsConfig

log = logging.getLogger("fieldguide.incidents.intake")
CHANNELS = ("slack", "teams")  # the notifiers a post can go through (incident_posts.notifier)
RECORD_ATTEMPTS = 5


class Decision(StrEnum):
    """What an intake did about the channel (stable names: logs and tests read them)."""

    NEW = "new"  # the group started firing (or fired again after resolving): posted
    CHANGED = "changed"  # its set of firing alerts changed: posted again
    RESOLVED = "resolved"  # it resolved: "resolved after N min" posted
    UNCHANGED = "unchanged"  # nothing new (a repeat, or a resolution of a group never posted)
    DUPLICATE = "duplicate"  # this very delivery was handled before


@dataclass(frozen=True)
class GroupState:
    status: str
    firing_hash: str


def firing_hash(fingerprints: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(set(fingerprints))).encode()).hexdigest()


def decide(previous: GroupState | None, status: AlertStatus, firing: Sequence[str]) -> Decision:
    """The dedupe rule, on values only: post on a new firing set, and on the first resolution."""
    if status is AlertStatus.RESOLVED or not firing:
        firing_before = previous is not None and previous.status == AlertStatus.FIRING.value
        return Decision.RESOLVED if firing_before else Decision.UNCHANGED
    if previous is None or previous.status != AlertStatus.FIRING.value:
        return Decision.NEW
    return Decision.UNCHANGED if previous.firing_hash == firing_hash(firing) else Decision.CHANGED


@dataclass(frozen=True)
class AlertOutcome:
    """One alert and what it resolved to. ``error``: the lookup failed for this alert alone."""

    alert: Alert
    resolution: Resolution | None
    team: TeamChoice
    error: str | None = None

    @property
    def runbook(self) -> Runbook | None:
        return self.resolution.runbook if self.resolution is not None else None


@dataclass(frozen=True)
class IntakeResult:
    outcomes: tuple[AlertOutcome, ...]
    rejected: tuple[str, ...]  # malformed alerts of the group, skipped
    decision: Decision
    posts: tuple[int, ...]  # outbox row ids written


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def pagerduty_group(event: PagerDutyEvent) -> AlertGroup:
    """A PagerDuty incident as a group of one alert, keyed by the incident."""
    alert = event.as_alert()
    return AlertGroup(group_key=f"pagerduty:{event.incident_id}", status=alert.status,
                      receiver="pagerduty", group_labels={}, common_labels=dict(alert.labels),
                      common_annotations=dict(alert.annotations), external_url=event.html_url,
                      truncated_alerts=0, alerts=(alert,))


class Intake:
    """Alert groups in, state and outbox rows out (see the module docstring).

    ``resolver`` and ``teams`` are called per intake so a new index snapshot or ``teams.yaml``
    is used as soon as it is loaded; ``freshness`` answers from memory and never raises (the
    search service's ``freshness_of``); ``channels`` names the notifiers a post is written for."""

    def __init__(self, sessions: sessionmaker[Session], *, resolver: Callable[[], RunbookResolver],
                 teams: Callable[[], TeamsConfig], freshness: Callable[[str], Freshness],
                 public_url: str = "http://localhost:8000", channels: Sequence[str] = ("slack",),
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        unknown = set(channels) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown channel(s) {sorted(unknown)} (allowed: {', '.join(CHANNELS)})")
        self.sessions = sessions
        self.resolver = resolver
        self.teams = teams
        self.freshness = freshness
        self.public_url = public_url.rstrip("/")
        self.channels = tuple(channels)
        self.clock = clock
        # SQLite takes one writer at a time and fails a read-then-write transaction that another
        # writer overtook; within a process, intakes queue here. Across PostgreSQL replicas the
        # group row's lock (FOR UPDATE) and the unique keys do the same.
        self._lock = threading.Lock()

    # -- resolution (no database) ------------------------------------------------------------
    def resolve(self, group: AlertGroup) -> tuple[AlertOutcome, ...]:
        """Every alert's runbook and team; an alert whose lookup fails is kept, without one."""
        resolver, teams = self.resolver(), self.teams()
        memo: dict[tuple[str, str | None, str, tuple[tuple[str, str], ...]], Resolution] = {}
        out: list[AlertOutcome] = []
        for alert in group.alerts:
            labels = {**group.common_labels, **alert.labels}
            key = (alert.alertname, alert.runbook_url, alert.text,
                   tuple(sorted((k, labels[k]) for k in KEY_LABELS if k in labels)))
            try:
                resolution = memo.get(key)
                if resolution is None:
                    resolution = memo[key] = resolver.resolve_parts(
                        alert.alertname, alert.runbook_url, alert.text, labels)
                error = None
            except Exception as exc:  # one alert's failure must not drop the others
                log.exception("runbook lookup failed for alert %s", alert.alertname)
                resolution, error = None, f"runbook lookup failed: {exc.__class__.__name__}"
            article = resolution.runbook.article if resolution and resolution.runbook else None
            out.append(AlertOutcome(alert, resolution, choose_team(labels, article, teams), error))
        return tuple(out)

    # -- the transaction ---------------------------------------------------------------------
    def receive(self, group: AlertGroup, *, source: str = "alertmanager",
                delivery_key: str | None = None) -> IntakeResult:
        """Resolve, then record and decide in one transaction, taken again when another replica
        wrote the same group at the same moment (PostgreSQL: a unique key; SQLite: the file
        was locked or our snapshot overtaken)."""
        outcomes = self.resolve(group)
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                with self._lock, self.sessions.begin() as session:
                    decision, posts = self._record(session, group, outcomes, source, delivery_key)
                break
            except (IntegrityError, OperationalError) as exc:
                if attempt == RECORD_ATTEMPTS:
                    raise
                log.info("group %s was written concurrently (%s); deciding again",
                         _hash(group.group_key)[:12], exc.__class__.__name__)
                time.sleep(0.01 * attempt)
        log.info("alert group %s (%s, %d alert(s), %d rejected): %s, %d post(s)",
                 _hash(group.group_key)[:12], source, len(outcomes), len(group.rejected),
                 decision.value, len(posts))
        return IntakeResult(outcomes, group.rejected, decision, posts)

    def _record(self, session: Session, group: AlertGroup, outcomes: Sequence[AlertOutcome],
                source: str, delivery_key: str | None) -> tuple[Decision, tuple[int, ...]]:
        now = self.clock()
        if delivery_key is not None:
            if session.get(DeliveryRow, delivery_key) is not None:
                return Decision.DUPLICATE, ()
            session.add(DeliveryRow(key=delivery_key, received_at=now))
        key_hash = _hash(group.group_key)
        row = session.scalars(select(AlertGroupRow).where(AlertGroupRow.key_hash == key_hash)
                              .with_for_update()).first()
        firing = sorted({o.alert.fingerprint for o in outcomes
                         if o.alert.status is AlertStatus.FIRING})
        status = group.status if firing else AlertStatus.RESOLVED
        previous = GroupState(row.status, row.firing_hash) if row is not None else None
        decision = decide(previous, status, firing)
        team = self._group_team(outcomes)
        if row is None:
            row = AlertGroupRow(key_hash=key_hash, group_key=group.group_key, source=source,
                                receiver=group.receiver, status=status.value, episode=1,
                                firing=[], firing_hash="", first_seen=now)
            session.add(row)
        elif decision is Decision.NEW:
            row.episode += 1
        since = row.firing_since
        if decision is Decision.NEW:
            starts = [o.alert.starts_at for o in outcomes if o.alert.starts_at is not None]
            row.firing_since, row.resolved_at = (min(starts) if starts else now), None
        row.status, row.firing, row.firing_hash = status.value, firing, firing_hash(firing)
        row.receiver, row.last_seen = group.receiver, now
        row.team = team.team.id if team.team else row.team
        if decision is Decision.RESOLVED:
            row.resolved_at = now
        self._upsert_alerts(session, key_hash, outcomes, now)
        session.flush()
        posts: list[int] = []
        if decision in (Decision.NEW, Decision.CHANGED, Decision.RESOLVED):
            minutes = self._minutes(since, outcomes, now)
            for channel in self.channels:
                post = self._post(key_hash, row.episode, decision, channel, group, outcomes, team,
                                  minutes)
                if post is not None:
                    session.add(post)
                    session.flush()
                    posts.append(post.id)
        return decision, tuple(posts)

    def _upsert_alerts(self, session: Session, key_hash: str, outcomes: Sequence[AlertOutcome],
                       now: dt.datetime) -> None:
        existing = {r.fingerprint: r for r in session.scalars(
            select(AlertSeenRow).where(AlertSeenRow.key_hash == key_hash))}
        for o in outcomes:
            a, res = o.alert, o.resolution
            row = existing.get(a.fingerprint)
            if row is None:
                row = existing[a.fingerprint] = AlertSeenRow(key_hash=key_hash,
                                                             fingerprint=a.fingerprint)
                session.add(row)
            row.alertname, row.status, row.severity = a.alertname[:512], a.status.value, a.severity
            row.labels, row.runbook_url = dict(a.labels), a.runbook_url
            row.runbook_id = res.runbook.article.id if res and res.runbook else None
            row.how = res.runbook.how.value if res and res.runbook else None
            row.broken_url = bool(res and res.broken_url)
            row.team = o.team.team.id if o.team.team else None
            row.starts_at, row.ends_at, row.last_seen = a.starts_at, a.ends_at, now

    @staticmethod
    def _group_team(outcomes: Sequence[AlertOutcome]) -> TeamChoice:
        """The group's channel: the first firing alert's team that has a runbook, else the first
        alert's with a team at all."""
        ranked = sorted(outcomes, key=lambda o: (o.alert.status is not AlertStatus.FIRING,
                                                 o.runbook is None, o.team.team is None))
        return ranked[0].team if ranked else TeamChoice(None, "none")

    @staticmethod
    def _minutes(since: dt.datetime | None, outcomes: Sequence[AlertOutcome],
                 now: dt.datetime) -> int:
        ends = [o.alert.ends_at for o in outcomes]
        end = max(e for e in ends if e is not None) if any(ends) else now
        if since is None:
            return 0
        if since.tzinfo is None:  # SQLite gives naive UTC times back
            since = since.replace(tzinfo=dt.UTC)
        return max(0, round((end - since).total_seconds() / 60))

    def views(self, outcomes: Sequence[AlertOutcome]) -> list[AlertView]:
        views = []
        for o in outcomes:
            a, runbook = o.alert, o.runbook
            rb = None
            if runbook is not None:
                url = self.public_url + "/articles/" + urllib.parse.quote(runbook.article.id,
                                                                          safe="/")
                rb = runbook_view(runbook.article, runbook.how.value, url,
                                  self.freshness(runbook.article.id))
            labels = tuple((k, a.labels[k]) for k in KEY_LABELS if a.labels.get(k))
            summary = a.annotations.get("summary") or a.annotations.get("description") or ""
            views.append(AlertView(a.alertname, a.status.value, a.severity, labels, summary,
                                   a.generator_url, rb,
                                   template_url(self.public_url, a.alertname, a.labels, summary)))
        return views

    def _post(self, key_hash: str, episode: int, decision: Decision, channel: str,
              group: AlertGroup, outcomes: Sequence[AlertOutcome], team: TeamChoice,
              minutes: int) -> ChannelPostRow | None:
        firing = [o for o in outcomes if o.alert.status is AlertStatus.FIRING]
        if decision is Decision.RESOLVED:
            message = render_resolved([o.alert.alertname for o in outcomes], minutes, team.team,
                                      flavor=channel, group_key=group.group_key)
            kind, marker = "resolved", "resolved"
        else:
            message = render_firing(self.views(firing), team.team, flavor=channel,
                                    update=decision is Decision.CHANGED,
                                    group_key=group.group_key)
            kind, marker = "firing", "firing"
            if decision is Decision.CHANGED:  # a set may come back: each change is its own post
                marker = f"{firing_hash([o.alert.fingerprint for o in firing])}@{self.clock()}"
        # The decision is taken under the group row's lock, so a retried delivery or a second
        # replica already decides "unchanged"; the unique key is the last guard.
        key = _hash(f"{key_hash}:{episode}:{marker}:{channel}")
        message = replace(message, extra={**message.extra, "team_because": team.because})
        return ChannelPostRow(delivery_key=key, key_hash=key_hash, kind=kind, notifier=channel,
                              team=team.team.id if team.team else None,
                              channel=team.team.channel if team.team else None,
                              message=message_json(message), status="pending", attempts=0,
                              next_attempt_at=self.clock())
