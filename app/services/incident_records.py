"""``IncidentRecords``: incidents for the routes and the CLI, and the changes the alert intake
makes to them; a resolution asks for the retrospective, an escalation posts the packet.

    >>> records = IncidentRecords.build(config, sessions, teams=lambda: teams)
    >>> incident = records.create(IncidentCreate("VPN down", Severity.P1))
    >>> records.patch(incident.id, Phase.RESOLVED, by="ana@example.com")
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from freshness.policy import Freshness, PolicyConfig
from incidents.config import IncidentsConfig
from incidents.draft_branch import BranchCommit, check_branch, commit_on_branch, work_tree_of
from incidents.drafts import DraftError, WrittenDraft, write_incident_draft
from incidents.intake import IntakeResult
from incidents.models import utcnow
from incidents.packet import escalation_packet
from incidents.payloads import AlertGroup, PagerDutyEvent
from incidents.records import (
    Activity,
    Incident,
    IncidentCreate,
    IncidentError,
    IncidentStore,
    Phase,
)
from incidents.report import stored_metrics
from incidents.retro import FollowUp
from incidents.severity import Severity
from incidents.sources import Change, IncidentFeed
from indexer.article import Article
from indexer.teams import TeamsConfig

log = logging.getLogger("fieldguide.incidents.records")
OUTCOMES = ("used-as-is", "updated", "created", "nothing-to-write")


@dataclass(frozen=True)
class DraftMade:
    """A draft written for an incident, and the branch it was committed on (with ``branch``)."""

    draft: WrittenDraft
    commit: BranchCommit | None = None


def draft_branch_name(incident_id: int, slug: str) -> str:
    return f"kb-draft/incident-{incident_id}-{slug}"


class IncidentRecords:
    def __init__(self, config: IncidentsConfig, store: IncidentStore, feed: IncidentFeed,
                 teams: Callable[[], TeamsConfig],
                 on_change: Callable[[Change], None] | None = None,
                 articles: Callable[[], Iterable[Article]] = lambda: ()) -> None:
        self.config = config
        self.articles = articles
        self.store = store
        self.feed = feed
        self.teams = teams
        self.on_change = on_change  # called after a resolution or an escalation
        self.follow: FollowUp | None = None  # the channel posts (set by the IncidentService)
        self.wake: Callable[[], None] = lambda: None  # the outbox sender

    @classmethod
    def build(cls, config: IncidentsConfig, sessions: sessionmaker[Session], *,
              teams: Callable[[], TeamsConfig],
              freshness: Callable[[str], Freshness] = lambda _id: Freshness.UNKNOWN,
              articles: Callable[[], Iterable[Article]] = lambda: (),
              clock: Callable[[], dt.datetime] = utcnow) -> IncidentRecords:
        store = IncidentStore(sessions, config.severities, clock=clock)
        return cls(config, store, IncidentFeed(store, config, freshness), teams,
                   articles=articles)

    # -- the retrospective and the escalation ------------------------------------------------
    def retrospective(self, incident_id: int, outcome: str, article_id: str | None,
                      by: str | None) -> Incident:
        """The responder's answer: did the fix need knowledge the knowledge base did not have?"""
        if outcome not in OUTCOMES:
            raise IncidentError(f"outcome: unknown {outcome!r} (allowed: {', '.join(OUTCOMES)})")
        if outcome in ("updated", "created") and not article_id:
            raise IncidentError(f"article_id: required when the outcome is {outcome!r}")
        incident = self.store.get(incident_id)
        if incident.status is not Phase.RESOLVED:
            raise IncidentError(f"incident {incident_id} is not resolved yet", "conflict")
        self.store.note(incident_id, f"retrospective: {outcome}", kind="retrospective", by=by,
                        value=article_id)
        return self.store.update(incident_id, retro_outcome=outcome, retro_article_id=article_id,
                                 retro_by=by, retro_at=self.store.clock())

    def escalate(self, incident_id: int, by: str | None, note: str | None) -> dict[str, Any]:
        """The packet an L3 engineer starts from; the escalation is a line of the timeline."""
        self.store.note(incident_id, note or "escalated", kind="escalated", by=by)
        incident = self.store.get(incident_id)
        packet = self._packet(incident)
        self._post_packet(incident, packet)
        return packet

    def _packet(self, incident: Incident) -> dict[str, Any]:
        by_id = {a.id: a for a in self.articles()}
        return escalation_packet(incident, by_id.get, public_url=self.config.public_url)

    def _post_packet(self, incident: Incident, packet: dict[str, Any]) -> None:
        if self.follow is None:
            return
        runbook = packet["runbook"] or {}
        steps = runbook.get("diagnostic_steps", [])
        lines = [f"{incident.title} ({incident.severity.value}), escalated: "
                 f"{packet['incident']['url']}",
                 f"Runbook: {runbook.get('url', 'none')}; steps done: "
                 f"{sum(1 for s in steps if s['done'])} of {len(steps)}",
                 "Searched: " + ("; ".join(s["query"] for s in packet["searches"][:10]) or "-"),
                 "Opened: " + (", ".join(a["id"] for a in packet["articles_opened"]) or "-"),
                 "Notes: " + (" | ".join(packet["notes"][-5:]) or "-")]
        self.follow.escalated(incident, "\n".join(lines))
        self.wake()

    def sweep(self) -> tuple[int, int]:
        """Retrospective reminders and misses that are due: (reminded, missed)."""
        if self.follow is None:
            return 0, 0
        done = self.follow.sweep(self.config.retro_remind_after_s, self.config.retro_miss_after_s)
        if done[0]:
            self.wake()
        return done

    # -- the draft article ------------------------------------------------------------------------
    def draft(self, incident_id: int, content_dir: Path, *, today: dt.date,
              policy: PolicyConfig | None = None, branch: str | None = None,
              by: str | None = None,
              hidden: Callable[[str], bool] = lambda _id: False) -> DraftMade:
        """``content_dir/drafts/<slug>.md`` in the house template, prefilled from the incident
        (``incidents.drafts``). ``branch``: also commit it on that new Git branch (``""``: the
        name ``kb-draft/incident-<id>-<slug>``); checked before anything is written, so a content
        directory that is not a Git work tree, or a branch that exists, leaves no file behind.
        ``hidden``: the articles the writer may not read, never named in the draft."""
        incident = self.store.get(incident_id).without(hidden)  # not_found first
        repo = work_tree_of(content_dir) if branch is not None else None
        if repo is not None and branch:
            check_branch(repo, branch)
        by_id = {a.id: a for a in self.articles()}
        readable = {k: a for k, a in by_id.items() if not hidden(k)}
        made = write_incident_draft(incident, content_dir, teams=self.teams(), today=today,
                                    policy=policy, article_of=readable.get, taken=by_id)
        commit = None
        if repo is not None:
            message = (f"Draft article from incident {incident.id}: {incident.title}\n\n"
                       f"Written by `fieldguide incidents draft` into {made.rel}: fill in its "
                       "TODO sections, then move it out of drafts/ to publish it.")
            try:
                commit = commit_on_branch(repo, made.path, branch or draft_branch_name(
                    incident.id, made.slug), message)
            except DraftError as exc:
                raise DraftError(f"{made.rel} was written but not committed: {exc}",
                                 exc.code) from None
        self.store.note(incident_id, f"draft article written: {made.rel}"
                        + (f" (branch {commit.branch})" if commit else ""), kind="draft", by=by,
                        value=made.rel)
        return DraftMade(made, commit)

    # -- metrics ----------------------------------------------------------------------------
    def metrics(self, days: int) -> dict[str, Any]:
        """``GET /api/metrics/incidents``: see ``incidents.metrics``."""
        return stored_metrics(self.store, self.articles(), self.config, self.store.clock(), days)

    # -- the API and the CLI ---------------------------------------------------------------
    def create(self, new: IncidentCreate) -> Incident:
        """A new incident; its team and channel from its services when not given."""
        if new.team is None and new.services:
            team = self.teams().team_for_services(tuple(new.services))
            if team is not None:
                new = replace(new, team=team.id, channel=new.channel or team.channel)
        elif new.team is not None and new.channel is None:
            team = self.teams().teams.get(new.team)
            if team is not None:
                new = replace(new, channel=team.channel)
        return self.store.create(new)

    def patch(self, incident_id: int, phase: Phase | None = None, *,
              at: dt.datetime | None = None, by: str | None = None, note: str | None = None,
              severity: Severity | None = None) -> Incident:
        incident = self.store.get(incident_id)  # not_found before anything else
        if severity is not None:
            incident = self.store.set_severity(incident_id, severity, at=at, by=by)
        if phase is not None:
            was = incident.status
            incident = self.store.transition(incident_id, phase, at=at, by=by, note=note)
            if phase is Phase.RESOLVED and was is not Phase.RESOLVED:
                self._changed(Change(incident, resolved=True))
        elif note:
            incident = self.store.note(incident_id, note, by=by, at=at)
        return incident

    def get(self, incident_id: int) -> Incident:
        return self.store.get(incident_id)

    def recent(self, status: Phase | None = None, limit: int = 50) -> list[Incident]:
        return self.store.recent(status=status, limit=limit)

    # -- what was tried ---------------------------------------------------------------------
    def check(self, incident_id: int) -> None:
        self.store.exists(incident_id)

    def searched(self, incident_id: int, query: str, result_ids: Sequence[str],
                 by: str | None) -> None:
        self.store.record(incident_id, Activity.SEARCH, query, by=by,
                          detail={"results": list(result_ids[:10])})

    def viewed(self, incident_id: int, article_id: str, by: str | None) -> None:
        self.store.record(incident_id, Activity.VIEW, article_id, by=by)

    def step_done(self, incident_id: int, article_id: str, step: int, by: str | None) -> Incident:
        if step < 1:
            raise IncidentError("step: must be >= 1 (the first diagnostic step is 1)")
        self.store.record(incident_id, Activity.STEP, article_id, by=by, detail={"step": step})
        return self.store.get(incident_id)

    # -- from the alert intake ----------------------------------------------------------------
    def from_pagerduty(self, event: PagerDutyEvent, result: IntakeResult) -> None:
        self._fed(lambda: self.feed.pagerduty(event, result), "PagerDuty event")

    def from_alert_group(self, group: AlertGroup, result: IntakeResult) -> None:
        if not self.config.alert_incidents:
            return
        self._fed(lambda: self.feed.alert_group(group, result), "alert group")

    def _fed(self, call: Callable[[], Change | None], what: str) -> None:
        # The intake already answered for the alert (and stored its delivery key): a failure
        # here is logged, never turned into a webhook error PagerDuty would retry for nothing.
        try:
            change = call()
        except Exception:
            log.exception("the incident record of a %s failed", what)
            return
        if change is not None:
            self._changed(change)

    def _changed(self, change: Change) -> None:
        try:
            if self.follow is not None and change.resolved:
                self.follow.resolved(change.incident)
                self.wake()
            if change.escalated:
                self._post_packet(change.incident, self._packet(change.incident))
            if self.on_change is not None:
                self.on_change(change)
        except Exception:
            log.exception("follow-up of incident %d failed", change.incident.id)
