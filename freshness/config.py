"""The freshness package's configuration: typed values with their defaults in one place.

``app.settings.Settings.freshness_config()`` builds them from the ``FIELDGUIDE_*`` settings; a
script or a test builds them directly::

    config = FreshnessConfig(content_dir=Path("content"), policy=PolicyConfig(grace_days=7))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from freshness.policy import PolicyConfig
from indexer.article import BUILTIN_AUDIENCES, Audience


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "fieldguide@localhost"
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs or errors
    starttls: bool = False


@dataclass(frozen=True)
class ChannelsConfig:
    """Where reminders and summaries go; each channel is off until configured."""

    smtp: SmtpConfig | None = None
    slack_webhook_url: str | None = field(default=None, repr=False)  # the URL is the secret
    teams_webhook_url: str | None = field(default=None, repr=False)
    teams_card: str = "messagecard"  # or "adaptive"
    retries: int = 3  # attempts per send
    backoff_seconds: float = 2.0  # doubled after each failed attempt


@dataclass(frozen=True)
class FreshnessConfig:
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    content_dir: Path = Path("content")
    index_path: Path = Path("var/index")  # where the CLI finds the live articles
    default_audience: Audience = Audience.ENGINEER
    audiences: tuple[Audience, ...] = BUILTIN_AUDIENCES  # the vocabulary (FIELDGUIDE_AUDIENCES)
    public_url: str = "http://localhost:8000"
    schedule_hours: float = 24.0  # 0: no scheduled run in the server
    first_run_seconds: float = 60.0
    notify: bool = True  # the scheduled run sends reminders and summaries
    lookup_seconds: float = 30.0  # how long the in-memory map of states is trusted
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)
