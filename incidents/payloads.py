"""Typed alert payloads: Alertmanager's webhook (Grafana's contact point posts the same shape plus
its own fields) and PagerDuty's V3 webhook events.

    >>> group = parse_alertmanager(raw_body)       # PayloadError when it is not the documented shape
    >>> [a.alertname for a in group.alerts], group.rejected   # one bad alert does not drop the rest
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Alertmanager sends the zero time for "not resolved yet".
_ZERO_TIME_YEAR = 1


class PayloadError(ValueError):
    """The body is not the documented shape: a 4xx with the message, nothing stored."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.code = code  # an app.errors code: bad_request | payload_too_large | validation_error


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"

    @classmethod
    def parse(cls, value: Any, where: str) -> AlertStatus:
        try:
            return cls(str(value).lower())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise PayloadError(f"{where}: unknown status {value!r} (allowed: {allowed})") from None


@dataclass(frozen=True)
class Alert:
    """One alert of a group, as Alertmanager documents it."""

    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    generator_url: str | None
    fingerprint: str

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str | None:
        return self.labels.get("severity") or self.labels.get("priority")

    @property
    def runbook_url(self) -> str | None:
        # GitLab's rules name the annotation `runbook`; Grafana's UI writes `runbook_url`.
        return self.annotations.get("runbook_url") or self.annotations.get("runbook") or None

    @property
    def text(self) -> str:
        """What a pager shows: summary, description, message (the search leg's query)."""
        parts = [self.annotations.get(k, "") for k in ("summary", "title", "description", "message")]
        return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class AlertGroup:
    """One webhook delivery: a group of alerts and what they share."""

    group_key: str
    status: AlertStatus
    receiver: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str | None
    truncated_alerts: int
    alerts: tuple[Alert, ...]
    rejected: tuple[str, ...] = ()  # one message per malformed alert, which was skipped
    extra: dict[str, Any] = field(default_factory=dict)  # Grafana's own fields, kept

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status is AlertStatus.FIRING)


def _load(body: bytes | str | dict[str, Any], max_bytes: int) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if len(body) > max_bytes:
        raise PayloadError(f"body of {len(body)} bytes is over the {max_bytes}-byte limit",
                           "payload_too_large")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    return data


def _labels(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object of strings")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(v, str | int | float | bool):
            raise PayloadError(f"{where}.{k} must be a string")
        out[str(k)] = str(v)
    return out


def _time(value: Any, where: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where} must be an RFC 3339 time string")
    text = value.strip().replace("Z", "+00:00")
    # Go prints nanoseconds; Python takes at most microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{where}: not an RFC 3339 time: {value!r}") from None
    if when.year <= _ZERO_TIME_YEAR:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _alert(raw: Any, i: int) -> Alert:
    where = f"alerts[{i}]"
    if not isinstance(raw, dict):
        raise PayloadError(f"{where} must be an object")
    labels = _labels(raw.get("labels"), f"{where}.labels")
    if not labels.get("alertname"):
        raise PayloadError(f"{where}.labels.alertname is missing")
    fingerprint = raw.get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise PayloadError(f"{where}.fingerprint must be a string")
    gen = raw.get("generatorURL")
    return Alert(
        status=AlertStatus.parse(raw.get("status", "firing"), where),
        labels=labels,
        annotations=_labels(raw.get("annotations"), f"{where}.annotations"),
        starts_at=_time(raw.get("startsAt"), f"{where}.startsAt"),
        ends_at=_time(raw.get("endsAt"), f"{where}.endsAt"),
        generator_url=gen if isinstance(gen, str) and gen else None,
        # Without a fingerprint (a hand-written sender) the sorted labels identify the alert.
        fingerprint=fingerprint or _label_fingerprint(labels),
    )


def _label_fingerprint(labels: dict[str, str]) -> str:
    import hashlib

    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_KNOWN = {"version", "groupKey", "status", "receiver", "groupLabels", "commonLabels",
          "commonAnnotations", "externalURL", "truncatedAlerts", "alerts"}


def parse_alertmanager(body: bytes | str | dict[str, Any], *, max_bytes: int = 1_000_000,
                       max_alerts: int = 1000) -> AlertGroup:
    """An Alertmanager (or Grafana) webhook body as an ``AlertGroup``.

    The group's shape is checked strictly (``PayloadError``); each alert on its own: a malformed
    alert is listed in ``rejected`` and the others go on."""
    data = _load(body, max_bytes)
    version = data.get("version")
    # Grafana's webhook contact point sends the same shape as version "1" (with its orgId).
    if version is not None and str(version) != "4" and not (str(version) == "1" and "orgId" in data):
        raise PayloadError(f"unsupported webhook version {version!r} "
                           "(allowed: 4, and 1 from Grafana)")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list):
        raise PayloadError("alerts must be a list" if "alerts" in data else "alerts is missing")
    if len(raw_alerts) > max_alerts:
        raise PayloadError(f"{len(raw_alerts)} alerts in one group, over the limit of {max_alerts}",
                           "payload_too_large")
    group_key = data.get("groupKey")
    if not isinstance(group_key, str) or not group_key:
        raise PayloadError("groupKey is missing or not a string")
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise PayloadError("truncatedAlerts must be a non-negative integer")
    receiver = data.get("receiver", "")
    external = data.get("externalURL")
    if not isinstance(receiver, str) or (external is not None and not isinstance(external, str)):
        raise PayloadError("receiver and externalURL must be strings")
    alerts: list[Alert] = []
    rejected: list[str] = []
    for i, raw in enumerate(raw_alerts):
        try:
            alerts.append(_alert(raw, i))
        except PayloadError as exc:
            rejected.append(str(exc))
    if raw_alerts and not alerts:
        raise PayloadError("no valid alert in the group: " + "; ".join(rejected[:3]))
    return AlertGroup(
        group_key=group_key,
        status=AlertStatus.parse(data.get("status", "firing"), "status"),
        receiver=receiver,
        group_labels=_labels(data.get("groupLabels"), "groupLabels"),
        common_labels=_labels(data.get("commonLabels"), "commonLabels"),
        common_annotations=_labels(data.get("commonAnnotations"), "commonAnnotations"),
        external_url=external or None,
        truncated_alerts=truncated,
        alerts=tuple(alerts),
        rejected=tuple(rejected),
        extra={k: v for k, v in data.items() if k not in _KNOWN},
    )


@dataclass(frozen=True)
class PagerDutyEvent:
    """One V3 webhook event (``{"event": {...}}``), reduced to what a runbook lookup needs."""

    id: str
    event_type: str  # incident.triggered, incident.resolved, ...
    resource_type: str
    occurred_at: dt.datetime | None
    incident_id: str
    title: str
    status: str | None
    urgency: str | None
    service: str | None  # the service's summary (its name)
    teams: tuple[str, ...]
    html_url: str | None
    priority: str | None = None  # the priority's name (P1..P5 by default), when set
    agent: str | None = None  # who did it: the agent's summary (a user's name), when given

    def as_alert(self) -> Alert:
        """The incident as an alert, so it goes through the same runbook lookup and post."""
        labels = {"alertname": self.title, "source": "pagerduty"}
        if self.service:
            labels["service"] = self.service
        if self.teams:
            labels["team"] = self.teams[0]
        if self.urgency:
            labels["severity"] = self.urgency
        resolved = self.event_type == "incident.resolved" or self.status == "resolved"
        return Alert(AlertStatus.RESOLVED if resolved else AlertStatus.FIRING, labels,
                     {"summary": self.title}, self.occurred_at, None, self.html_url,
                     self.incident_id)


def _summary(value: Any) -> str | None:
    if isinstance(value, dict):
        text = value.get("summary") or value.get("name")
        return str(text) if text else None
    return None


def parse_pagerduty(body: bytes | str | dict[str, Any], *, max_bytes: int = 1_000_000
                    ) -> PagerDutyEvent:
    data = _load(body, max_bytes)
    event = data.get("event")
    if not isinstance(event, dict):
        raise PayloadError("event is missing or not an object")
    for key in ("id", "event_type", "resource_type"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise PayloadError(f"event.{key} is missing or not a string")
    inner = event.get("data")
    if not isinstance(inner, dict):
        raise PayloadError("event.data is missing or not an object")
    teams = inner.get("teams") or []
    if not isinstance(teams, list):
        raise PayloadError("event.data.teams must be a list")
    title = inner.get("title") or inner.get("summary") or ""
    return PagerDutyEvent(
        id=event["id"], event_type=event["event_type"], resource_type=event["resource_type"],
        occurred_at=_time(event.get("occurred_at"), "event.occurred_at"),
        incident_id=str(inner.get("id") or event["id"]), title=str(title),
        status=str(inner["status"]) if inner.get("status") else None,
        urgency=str(inner["urgency"]) if inner.get("urgency") else None,
        service=_summary(inner.get("service")),
        teams=tuple(t for t in (_summary(x) for x in teams) if t),
        html_url=str(inner["html_url"]) if inner.get("html_url") else None,
        priority=_summary(inner.get("priority")), agent=_summary(event.get("agent")),
    )
