"""The incident side's knobs, read from ``FIELDGUIDE_*`` environment variables (or passed in).

    >>> config = IncidentsConfig.from_env()           # at an entry point
    >>> config = IncidentsConfig(alerts_token="s3cret")  # in a test
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from incidents.severity import DEFAULT_SEVERITY_MAP, DEFAULT_TARGETS, SeverityMap, parse_targets
from indexer.article import BUILTIN_AUDIENCES, STAFF, Audience

# Measured on content/ (14 alert-like texts): those with a runbook here scored 0.50-0.87 on the
# dense leg, those without one ("Jenkins build queue is long", "etcd cluster has no leader")
# 0.34-0.44. tests/test_incidents_runbooks.py keeps one of each side.
DEFAULT_SEARCH_FLOOR = 0.48


def _bool(value: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r} (allowed: true, false, 1, 0, yes, no)")


@dataclass(frozen=True)
class IncidentsConfig:
    """Secrets, audiences and limits of alert intake, channel posts and ChatOps.

    Every field is the environment variable ``FIELDGUIDE_<FIELD NAME IN CAPITALS>``."""

    alerts_token: str | None = None  # bearer token Alertmanager / Grafana present
    pagerduty_secret: str | None = None  # the V3 webhook subscription's signing secret
    slack_signing_secret: str | None = None
    slack_audience: Audience = Audience.END_USER  # what `/kb` in Slack may show
    teams_outgoing_secret: str | None = None  # base64, as Teams shows it
    teams_audience: Audience = Audience.END_USER
    # The audiences articles may name (FIELDGUIDE_AUDIENCES, from the settings).
    audience_vocabulary: tuple[Audience, ...] = BUILTIN_AUDIENCES
    slack_webhook_url: str | None = None  # channel posts (the existing notifiers' settings)
    teams_webhook_url: str | None = None
    teams_card: str = "messagecard"
    public_url: str = "http://localhost:8000"
    search_floor: float = DEFAULT_SEARCH_FLOOR  # dense-leg cosine a searched runbook must reach
    max_body_bytes: int = 1_000_000  # Alertmanager groups of ~1,000 alerts are ~1 MB
    max_alerts: int = 1000
    signature_max_age_s: int = 300  # Slack's replay window
    post_retries: int = 3
    post_backoff_s: float = 0.5
    # -- incident records and their metrics (issue 14)
    severity_map: str = DEFAULT_SEVERITY_MAP  # NAME=P1..P4, comma-separated
    alert_incidents: str = ""  # alert severities that open an incident ("*": every group)
    mttr_targets: str = DEFAULT_TARGETS  # P1=1h,P2=4h,P3=2bd (bd: business days)
    ratio_target: float = 0.7  # share of resolved incidents that produced an article
    cover_days: int = 7  # days after resolution an article change still counts
    repeat_window_days: int = 90
    repeat_target: float = 0.15
    retro_remind_after_s: float = 86_400.0  # unanswered retrospective: reminded once
    retro_miss_after_s: float = 86_400.0  # then, this long after the reminder: a miss
    retro_sweep_s: float = 300.0  # how often reminders are looked for (0: never, e.g. tests)

    def __post_init__(self) -> None:
        if self.search_floor < 0 or self.search_floor > 1:
            raise ValueError("search_floor must be between 0 and 1")
        if self.max_alerts < 1 or self.max_body_bytes < 1024:
            raise ValueError("max_alerts must be >= 1 and max_body_bytes >= 1024")
        if self.teams_card not in ("messagecard", "adaptive"):
            raise ValueError(f"unknown teams_card {self.teams_card!r} (allowed: messagecard, adaptive)")
        for name in ("slack_audience", "teams_audience"):
            try:
                Audience.parse(getattr(self, name), self.audience_vocabulary)
            except ValueError as exc:
                raise ValueError(f"FIELDGUIDE_{name.upper()}: {exc}") from None
        SeverityMap.parse(self.severity_map)  # refused at start-up, not at the first alert
        parse_targets(self.mttr_targets)
        if not 0 < self.ratio_target <= 1 or not 0 < self.repeat_target <= 1:
            raise ValueError("ratio_target and repeat_target must be in (0, 1]")
        if self.cover_days < 0 or self.repeat_window_days < 1:
            raise ValueError("cover_days must be >= 0 and repeat_window_days >= 1")

    @property
    def severities(self) -> SeverityMap:
        return SeverityMap.parse(self.severity_map)

    def opens_incident(self, severity: str | None) -> bool:
        """Whether an Alertmanager group with an alert of ``severity`` opens an incident."""
        wanted = {s.strip().lower() for s in self.alert_incidents.split(",") if s.strip()}
        return "*" in wanted or (severity or "").lower() in wanted

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> IncidentsConfig:
        """The config from ``FIELDGUIDE_*`` variables; ``overrides`` win (empty strings are unset)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"FIELDGUIDE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = str(f.type)
            if f.name == "audience_vocabulary":
                continue  # FIELDGUIDE_AUDIENCES, read by the settings
            if "Audience" in kind:
                values[f.name] = Audience(raw)  # checked against the vocabulary at the end
            elif kind == "float":
                values[f.name] = float(raw)
            elif kind == "int":
                values[f.name] = int(raw)
            elif kind == "bool":
                values[f.name] = _bool(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def from_settings(cls, settings: Any, environ: Mapping[str, str] | None = None) -> IncidentsConfig:
        """The config from the environment, with every field the application's settings object
        (duck-typed) also has taken from it when set there (webhooks, public URL, secrets)."""
        shared = {f.name: getattr(settings, f.name, None) for f in fields(cls)}
        return cls.from_env(environ, **shared)

    def audience_for(self, audience: Audience) -> frozenset[Audience]:
        """What a ChatOps workspace configured for ``audience`` may see: ``end-user`` articles,
        and the workspace's own audience's (``engineer``: the built-in two, as an engineer;
        an added one such as ``security``: end-user and security articles, not engineers')."""
        if audience == Audience.ENGINEER:
            return STAFF
        if audience in self.audience_vocabulary:
            return frozenset({Audience.END_USER, audience})
        return frozenset({Audience.END_USER})
