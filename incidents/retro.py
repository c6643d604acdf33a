"""The retrospective question posted to the incident channel when an incident resolves, reminded
once after a configurable time and then counted as a miss; and the escalation post. Posts go
through the intake's outbox (``incident_posts``), so a channel that is down loses nothing and a
second replica posts nothing twice (the delivery key).

    >>> follow = FollowUp(store, channels=("slack",), public_url="https://kb.example")
    >>> follow.resolved(incident)             # the question, once per resolution
    >>> follow.sweep(remind_after, miss_after)   # reminders and misses that are due
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.parse
from collections.abc import Sequence

from sqlalchemy import select

from freshness.notify import Message
from incidents.models import ChannelPostRow, IncidentRow
from incidents.packet import incident_page_url
from incidents.posts import message_json
from incidents.records import Incident, IncidentStore, aware, to_incident

ANSWERS = ("used as is", "updated article X", "wrote a new article", "nothing to write")


def _key(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


class FollowUp:
    def __init__(self, store: IncidentStore, channels: Sequence[str], public_url: str) -> None:
        self.store = store
        self.channels = tuple(channels)
        self.public_url = public_url.rstrip("/")

    def _url(self, incident: Incident, article_id: str) -> str:
        return (f"{self.public_url}/articles/{urllib.parse.quote(article_id, safe='/')}"
                f"?incident={incident.id}")

    def page(self, incident: Incident) -> str:
        """The incident's page (``GET /incidents/{id}``): where the question is answered."""
        return incident_page_url(self.public_url, incident.id)

    def question(self, incident: Incident, *, reminder: bool) -> Message:
        used = list(dict.fromkeys([*incident.runbooks(), *incident.articles_opened()]))
        lines = [("Reminder: " if reminder else "") + f"Incident {incident.id} "
                 f"({incident.severity.value}) resolved: {incident.title}",
                 "Articles used: " + (", ".join(used) if used else "none opened"),
                 "Did the fix need knowledge the knowledge base did not have? Answer: "
                 + " / ".join(ANSWERS) + f" on the incident's page, {self.page(incident)} "
                 f"(or POST {self.public_url}/api/incidents/{incident.id}/retrospective)."]
        return Message("incident", incident.team or "", lines[0], "\n\n".join(lines),
                       channel=incident.channel,
                       links=((f"Incident {incident.id}", self.page(incident)),
                              *((a, self._url(incident, a)) for a in used[:5])),
                       extra={"incident": incident.id})

    def _queue(self, incident: Incident, kind: str, message: Message, marker: str) -> int:
        now = self.store.clock()
        with self.store.sessions.begin() as session:
            added = 0
            for channel in self.channels:
                key = _key("incident", incident.id, marker, channel)
                if session.scalars(select(ChannelPostRow.id).where(
                        ChannelPostRow.delivery_key == key)).first() is not None:
                    continue
                session.add(ChannelPostRow(
                    delivery_key=key, key_hash=_key("incident", incident.id), kind=kind,
                    notifier=channel, team=incident.team, channel=incident.channel,
                    message=message_json(message), status="pending", attempts=0,
                    next_attempt_at=now, created_at=now))
                added += 1
            return added

    def resolved(self, incident: Incident) -> int:
        """The question, once per resolution (a reopened incident asks again)."""
        assert incident.resolved_at is not None
        self.store.update(incident.id, retro_asked_at=self.store.clock())
        return self._queue(incident, "retro", self.question(incident, reminder=False),
                           f"retro@{incident.resolved_at.isoformat()}")

    def escalated(self, incident: Incident, packet_text: str) -> int:
        message = Message("incident", incident.team or "", f"Escalated: incident {incident.id}",
                          packet_text, channel=incident.channel,
                          links=((f"Incident {incident.id}", self.page(incident)),),
                          extra={"incident": incident.id})
        return self._queue(incident, "escalation", message,
                           f"escalation@{self.store.clock().isoformat()}")

    def sweep(self, remind_after_s: float, miss_after_s: float) -> tuple[int, int]:
        """Remind once the unanswered questions asked ``remind_after_s`` ago; count as missed
        those reminded ``miss_after_s`` ago. Returns (reminded, missed)."""
        now = self.store.clock()
        with self.store.sessions() as session:
            rows = list(session.scalars(select(IncidentRow).where(
                IncidentRow.retro_asked_at.is_not(None), IncidentRow.retro_outcome.is_(None),
                IncidentRow.retro_missed_at.is_(None))))
        reminded = missed = 0
        for row in rows:
            asked, nudged = aware(row.retro_asked_at), aware(row.retro_reminded_at)
            assert asked is not None
            if nudged is None and now >= asked + dt.timedelta(seconds=remind_after_s):
                incident = to_incident(row)
                self.store.update(row.id, retro_reminded_at=now)
                self._queue(incident, "retro", self.question(incident, reminder=True),
                            f"reminder@{asked.isoformat()}")
                reminded += 1
            elif nudged is not None and now >= nudged + dt.timedelta(seconds=miss_after_s):
                self.store.update(row.id, retro_missed_at=now)
                self.store.note(row.id, "retrospective not answered: counted as a miss",
                                kind="retrospective-missed", at=now)
                missed += 1
        return reminded, missed
