"""The incident side of the service: alert intake (Alertmanager, Grafana, PagerDuty) verified,
parsed and handed to ``incidents.intake``, and the outbox sender thread posting to the channels.

    >>> hooks = IncidentService.build(config, index, sessions, search.search_fn, freshness,
    ...                              search.freshness_of)
    >>> hooks.start()
    >>> hooks.check_bearer(request_authorization)           # SignatureError, IntakeDisabled
    >>> result = hooks.alertmanager(raw_body)               # PayloadError on a bad shape
    >>> hooks.close()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from app.index import IndexHolder
from app.services.incident_records import IncidentRecords
from freshness.notify import Notifier, TeamsWebhookNotifier
from freshness.policy import Freshness
from freshness.service import FreshnessService
from incidents.changes import record_versions
from incidents.config import IncidentsConfig
from incidents.intake import Decision, Intake, IntakeResult, pagerduty_group
from incidents.payloads import parse_alertmanager, parse_pagerduty
from incidents.posts import OutboxSender, SlackBlocksNotifier, runbook_template
from incidents.retro import FollowUp
from incidents.runbooks import RunbookIndex, RunbookResolver
from incidents.signatures import verify_bearer, verify_pagerduty
from indexer.article import STAFF
from indexer.search import Searcher, SearchFn

log = logging.getLogger("fieldguide.incidents")


class IntakeDisabled(Exception):
    """The route's secret is not configured: ``setting`` says which variable to set."""

    def __init__(self, what: str, setting: str) -> None:
        super().__init__(f"{what} is not configured: set {setting}")
        self.setting = setting


class IncidentService:
    def __init__(self, config: IncidentsConfig, intake: Intake, sender: OutboxSender,
                 records: IncidentRecords | None = None) -> None:
        self.config = config
        self.intake = intake
        self.sender = sender
        self.records = records  # incidents (issue 14): built with the service, None in a bare one
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    @classmethod
    def build(cls, config: IncidentsConfig, index: IndexHolder, sessions: sessionmaker[Session],
              search: SearchFn, freshness: FreshnessService, freshness_of: Callable[[str], Freshness],
              sender_poll_s: float = 5.0) -> IncidentService:
        resolvers: dict[int, tuple[Searcher, RunbookResolver]] = {}
        lock = threading.Lock()

        def resolver() -> RunbookResolver:
            """One exact-ways index per snapshot, rebuilt when a new one is swapped in."""
            searcher = index.searcher
            with lock:
                hit = resolvers.get(id(searcher))
                if hit is None or hit[0] is not searcher:
                    resolvers.clear()
                    # The channel reads what an engineer reads: a runbook_url or alert name
                    # that points at an added audience's article (security) finds no runbook,
                    # as the resolver's search does.
                    built = RunbookResolver(RunbookIndex(searcher.articles(STAFF),
                                                         config.public_url),
                                            search, floor=config.search_floor)
                    hit = resolvers[id(searcher)] = (searcher, built)
                return hit[1]

        notifiers: dict[str, Notifier] = {}
        if config.slack_webhook_url:
            notifiers["slack"] = SlackBlocksNotifier(config.slack_webhook_url)
        if config.teams_webhook_url:
            notifiers["teams"] = TeamsWebhookNotifier(config.teams_webhook_url,
                                                      card=config.teams_card)
        intake = Intake(sessions, resolver=resolver, teams=freshness.teams, freshness=freshness_of,
                        public_url=config.public_url, channels=tuple(notifiers))
        sender = OutboxSender(sessions, notifiers, retries=config.post_retries,
                              backoff_s=config.post_backoff_s, poll_s=sender_poll_s)
        if not notifiers:
            log.info("no FIELDGUIDE_SLACK_WEBHOOK_URL or FIELDGUIDE_TEAMS_WEBHOOK_URL: alerts are "
                     "recorded and answered, nothing is posted to a channel")
        records = IncidentRecords.build(config, sessions, teams=freshness.teams,
                                        freshness=freshness_of,
                                        articles=lambda: index.searcher.articles())

        def versions(searcher: Searcher) -> None:
            """Article versions as each snapshot shows them: the ratio's evidence."""
            try:
                record_versions(sessions, searcher.articles())
            except Exception:  # another replica recorded the same snapshot; the next swap retries
                log.exception("article versions not recorded")

        records.follow = FollowUp(records.store, intake.channels, config.public_url)
        records.wake = sender.wake
        versions(index.searcher)  # the snapshot loaded before the service was built
        index.on_swap.append(versions)
        return cls(config, intake, sender, records)

    def start(self) -> None:
        self.sender.start()
        interval = self.config.retro_sweep_s
        if self.records is not None and interval > 0:
            records = self.records

            def loop() -> None:
                while not self._stop.wait(interval):
                    try:
                        records.sweep()
                    except Exception:  # the next round retries
                        log.exception("retrospective sweep failed")

            self._sweeper = threading.Thread(target=loop, name="fieldguide-retro-sweep",
                                             daemon=True)
            self._sweeper.start()

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
        self.sender.stop()

    # -- Alertmanager and Grafana -----------------------------------------------------------
    def check_bearer(self, authorization: str | None) -> None:
        """Before the body is read: intake configured, and the caller's token right."""
        if not self.config.alerts_token:
            raise IntakeDisabled("alert intake", "FIELDGUIDE_ALERTS_TOKEN")
        verify_bearer(self.config.alerts_token, authorization)

    def alertmanager(self, body: bytes) -> IntakeResult:
        """A verified Alertmanager or Grafana delivery: parsed, resolved, recorded, posted."""
        group = parse_alertmanager(body, max_bytes=self.config.max_body_bytes,
                                   max_alerts=self.config.max_alerts)
        result = self.intake.receive(group, source="alertmanager")
        if self.records is not None:
            self.records.from_alert_group(group, result)
        return self._posted(result)

    # -- PagerDuty --------------------------------------------------------------------------
    def check_pagerduty(self) -> None:
        """Before the body is read: PagerDuty intake configured."""
        if not self.config.pagerduty_secret:
            raise IntakeDisabled("PagerDuty intake", "FIELDGUIDE_PAGERDUTY_SECRET")

    def pagerduty(self, signature: str | None, body: bytes) -> IntakeResult:
        """A PagerDuty V3 event, verified against the raw body, then as a group of one."""
        self.check_pagerduty()
        verify_pagerduty(self.config.pagerduty_secret, signature, body)
        event = parse_pagerduty(body, max_bytes=self.config.max_body_bytes)
        if event.resource_type != "incident":  # pagey.ping, services...: acknowledged, no post
            return IntakeResult((), (), Decision.UNCHANGED, ())
        result = self.intake.receive(pagerduty_group(event), source="pagerduty",
                                     delivery_key=f"pagerduty:{event.id}"[:128])
        if self.records is not None:
            self.records.from_pagerduty(event, result)
        return self._posted(result)

    def _posted(self, result: IntakeResult) -> IntakeResult:
        if result.posts:
            self.sender.wake()
        return result

    @staticmethod
    def template(alertname: str, service: str | None, summary: str | None) -> str:
        return runbook_template(alertname, service, summary)
