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
    public_url_set: bool = True  # False: FIELDGUIDE_PUBLIC_URL unset, public_url is the default
    schedule_hours: float = 24.0  # 0: no scheduled run in the server
    first_run_seconds: float = 60.0
    notify: bool = True  # the scheduled run sends reminders and summaries
    lookup_seconds: float = 30.0  # how long the in-memory map of states is trusted
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)

    def unset_url_warning(self) -> str | None:
        """What to say when digests would be sent with the default base URL: they are read
        in mail and chat, away from any request, so their links cannot follow the reader's
        address the way the service's answers do."""
        if self.public_url_set:
            return None
        return (f"FIELDGUIDE_PUBLIC_URL is not set: the links in freshness reminders and "
                f"weekly summaries will point at {self.public_url}/articles/..., which their "
                "readers probably cannot open; set FIELDGUIDE_PUBLIC_URL to the address people "
                "use to reach this service")
