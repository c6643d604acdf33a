"""One settings class, read from ``FIELDGUIDE_*`` environment variables and an optional TOML file.

Build it at an entry point (the CLI, ``create_app``) and pass it down; nothing reads the
environment anywhere else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from chatbot.config import ChatConfig
from freshness.config import ChannelsConfig, FreshnessConfig, SmtpConfig
from freshness.policy import PolicyConfig
from indexer.article import BUILTIN_AUDIENCES, Audience, audience_vocabulary
from indexer.fuse import FusionMethod
from indexer.legs.dense import HNSW_MIN_CHUNKS, FaissKind

if TYPE_CHECKING:
    from app.db import DbTimeouts
    from indexer.embed import Embedder

CONFIG_ENV = "FIELDGUIDE_CONFIG"
# Each package owns its defaults; the settings below repeat none of them.
_POLICY = PolicyConfig()
_FRESH = FreshnessConfig()
_CHANNELS = ChannelsConfig()
_SMTP = SmtpConfig(host="")
_CHAT = ChatConfig()


def hash_key(key: str) -> str:
    """How API keys are kept in memory and compared: never as plain text."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def settings_error(exc: Exception) -> str:
    """One line naming each bad setting and why, never its value (it may be a secret)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    parts = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        field = ".".join(str(x) for x in err.get("loc", ()))
        name = f"FIELDGUIDE_{field.upper()}" if field else "settings"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        # A check across fields names its setting itself.
        parts.append(msg if not field and msg.startswith("FIELDGUIDE_") else f"{name}: {msg}")
    return "; ".join(parts)


# Where links made without a request point when FIELDGUIDE_PUBLIC_URL is unset: the address
# `fieldguide serve` listens on by default.
DEFAULT_PUBLIC_URL = "http://localhost:8000"


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class Settings(BaseSettings):
    """Fieldguide settings. Every field is an env var ``FIELDGUIDE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FIELDGUIDE_", extra="ignore",
                                      validate_default=True)

    data_dir: Path = Field(Path("var"), description="Where the index and the SQLite database live.")
    content_dir: Path = Field(Path("content"), description="The knowledge base: Markdown articles.")
    index_dir: Path | None = Field(None, description="Index snapshots (default: DATA_DIR/index).")
    static_dir: Path = Field(
        Path(__file__).resolve().parents[1] / "static",
        description="The widget and page assets served under /static (default: the static/ "
        "folder of this checkout; point it at a built copy to serve that instead).")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (default: sqlite file DATA_DIR/fieldguide.db); "
        "postgresql+psycopg://... for several replicas.")
    model: str | None = Field(
        None, description="sentence-transformers model name or path (default: the bundled "
        "all-MiniLM-L6-v2, loaded offline).")
    model_runtime: Literal["onnx", "torch"] = Field(
        "onnx", description="Embedding runtime: onnx (the model exported once to ONNX, run by "
        "ONNX Runtime; no PyTorch in the server) or torch (sentence-transformers as is). Same "
        "vectors; onnx is faster and uses about 400 MB less memory.")
    model_cache_dir: Path | None = Field(
        None, description="Where ONNX exports of the model are kept (default: "
        "$XDG_CACHE_HOME/fieldguide/models, else ~/.cache/fieldguide/models).")
    model_threads: int | None = Field(
        1, ge=1, le=64, description="Threads per query encode in the server (concurrent requests "
        "already use the other cores; with 1, inputs of 128 tokens or more, pasted logs, get a "
        "second session of 2 threads); indexing from the CLI uses every core.")
    compute_threads: int = Field(
        1, ge=1, le=64, description="Threads that run the Python part of searches in a server "
        "process (more only trade the GIL back and forth).")
    vector_threads: int = Field(
        1, ge=1, le=64, description="Threads that embed queries and run the dense leg in a "
        "server process (native code, free of the GIL: up to one per spare core).")
    default_audience: Audience = Field(
        Audience.ENGINEER, description="Audience of articles that declare none (one of "
        "AUDIENCES).")
    audiences: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [a.value for a in BUILTIN_AUDIENCES],
        description="Comma-separated audience vocabulary articles may name in `audience`: "
        "always end-user and engineer (added when missing), plus any an organisation adds "
        "(e.g. security). Who reads an added audience is given by ROLE_GROUPS "
        "(GROUP=ROLE:AUDIENCE) or a key's --audience; engineers read end-user and engineer "
        "articles, admins every audience.")
    slack_audience: Audience = Field(
        Audience.END_USER, description="What `/kb` in Slack may show: end-user, engineer (both "
        "built-in audiences) or an added audience (end-user articles and that audience's).")
    teams_audience: Audience = Field(
        Audience.END_USER, description="What `/kb` in Teams may show: end-user, engineer or an "
        "added audience, as SLACK_AUDIENCE.")
    faiss_index: FaissKind = Field(
        FaissKind.AUTO, description="Dense index kind: auto (exact flat below "
        "faiss_hnsw_min_chunks chunks, HNSW from there), flat or hnsw.")
    faiss_hnsw_min_chunks: int = Field(
        HNSW_MIN_CHUNKS, ge=1, description="With faiss_index=auto, the chunk count from which "
        "the dense index is HNSW (approximate) instead of flat (exact).")
    fusion: FusionMethod = Field(
        FusionMethod.CALIBRATED, description="Fusion: calibrated (a logistic model over every "
        "leg's evidence, trained leave-one-corpus-out), rrf or blend.")
    admin_token: str | None = Field(None, description="Bearer token for admin routes.")
    engineer_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated API keys (or sha256:<hex> hashes) that "
        "may see engineer articles.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed to call the API "
        "(the wikis embedding the widget).")
    public_url: str | None = Field(
        None, description="The address people reach the service at (https://kb.example.com), "
        "for links. Unset: links in HTTP answers (search url, chat sources, pages) are built "
        "from each request's own address, and links made without a request (freshness "
        "digests, tickets, channel posts, the CLI) use http://localhost:8000.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated host names requests may carry in "
        "Host (default: the public URL's host and localhost; * for any, behind a proxy that "
        "checks it). Others are refused with 400 bad_host.")
    smtp_host: str | None = Field(None, description="SMTP server for email notifications.")
    smtp_port: int = Field(_SMTP.port, description="SMTP port.")
    smtp_from: str = Field(_SMTP.sender, description="Sender address.")
    smtp_user: str | None = Field(None, description="SMTP user name.")
    smtp_password: str | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(_SMTP.starttls, description="Use STARTTLS.")
    slack_webhook_url: str | None = Field(None, description="Slack-compatible incoming webhook.")
    teams_webhook_url: str | None = Field(None, description="Microsoft Teams incoming webhook.")
    ticket_webhook_url: str | None = Field(None, description="Where chatbot hand-offs are POSTed.")
    alerts_token: str | None = Field(
        None, repr=False, description="Bearer token Alertmanager and Grafana present to POST "
        "/api/hooks/alertmanager (unset: the route answers 503 and stores nothing).")
    pagerduty_secret: str | None = Field(
        None, repr=False, description="Signing secret of the PagerDuty V3 webhook subscription "
        "(X-PagerDuty-Signature) for POST /api/hooks/pagerduty.")
    ticket_email: str | None = Field(None, description="Where chatbot hand-offs are emailed.")
    freshness_schedule_hours: float = Field(
        _FRESH.schedule_hours,
        ge=0, description="How often the service runs the freshness job (0 disables the "
        "scheduled run; one replica runs it, under a database lock).")
    freshness_first_run_seconds: float = Field(
        _FRESH.first_run_seconds,
        ge=0, description="Delay after startup before the first scheduled freshness run.")
    freshness_lookup_seconds: float = Field(
        _FRESH.lookup_seconds, ge=0, description="How long search keeps articles' freshness in memory before "
        "reading it again (reviews made through this process show at once).")
    freshness_notify: bool = Field(
        _FRESH.notify, description="Whether the scheduled freshness run sends digests and summaries.")
    freshness_default_interval_days: int = Field(
        _POLICY.default_interval_days,
        ge=1, description="Review interval for articles and teams that set none.")
    freshness_due_soon_days: int = Field(
        _POLICY.due_soon_days, ge=0, description="Days before review-by when an article becomes due_soon.")
    freshness_grace_days: int = Field(
        _POLICY.grace_days, ge=0, description="Days past review-by after which a stale article is unverified "
        "(and the banner goes up).")
    freshness_timezone: str = Field(
        _POLICY.timezone, description="Time zone whose calendar date the freshness policy uses.")
    unhelpful_votes: int = Field(
        _POLICY.unhelpful_votes, ge=0, description="\"Not helpful\" votes (from different readers, "
        "within vote_window_days, since the last review, and more than the \"helpful\" ones) that "
        "flag an article for review before its review-by date; 0: votes never flag.")
    vote_window_days: int = Field(
        _POLICY.vote_window_days, ge=1, le=3650,
        description="Days of readers' votes that count towards the flag.")
    votes_per_minute: float = Field(
        10.0, ge=0, description="\"Was this helpful?\" votes a client (by address) may send per "
        "minute, in a burst of as many; 0: unlimited.")
    notify_retries: int = Field(_CHANNELS.retries, ge=1, le=10, description="Attempts per notification send.")
    notify_backoff_seconds: float = Field(
        _CHANNELS.backoff_seconds,
        ge=0, description="Pause before the first retry of a failed send (doubles).")
    teams_card: str = Field(_CHANNELS.teams_card, pattern="^(messagecard|adaptive)$",
                            description="Microsoft Teams payload: messagecard or adaptive.")
    rate_limit_per_second: float = Field(
        10.0, ge=0, description="Search and chat requests per second allowed per client IP "
        "(token bucket refill rate); 0 disables rate limiting.")
    rate_limit_burst: int = Field(
        40, ge=1, description="Token bucket size: requests a client may send in a burst.")
    redis_url: str | None = Field(
        None, repr=False, description="Redis (redis://host:6379/0) holding the search and "
        "failed-authentication token buckets, so the limits hold across replicas; unset: each "
        "process keeps its own buckets. While Redis is unreachable each replica limits alone.")
    redis_prefix: str = Field(
        "fieldguide", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Prefix of every Redis key (several deployments may share one Redis).")
    watch_content: bool = Field(
        False, description="Poll CONTENT_DIR and reindex in the background when it changes "
        "(`fieldguide serve --watch`).")
    watch_interval_seconds: float = Field(
        2.0, gt=0, description="How often the content watcher polls file modification times.")
    index_poll_seconds: float = Field(
        5.0, ge=0, description="How often a server checks INDEX_DIR for a snapshot built by "
        "another process (other workers, `fieldguide index`) and loads it; 0 disables.")
    publish_snapshots: bool = Field(
        False, description="Several replicas without a shared filesystem: every snapshot this "
        "server builds (at startup, POST /api/admin/reindex) is published to the database, and "
        "the server loads the newest snapshot published by any replica or `fieldguide index "
        "--publish`. Off: the index directory alone, as on a single node.")
    snapshot_poll_seconds: float = Field(
        5.0, gt=0, description="With PUBLISH_SNAPSHOTS: how often a server asks the database "
        "for a newer published snapshot.")
    record_search_events: bool = Field(
        True, description="Record every search in the database (for /api/metrics/search).")
    database_connect_timeout_seconds: float = Field(
        3.0, ge=1, le=120, description="PostgreSQL: longest wait for a new connection "
        "(connect_timeout; libpq counts whole seconds, at least 2).")
    database_statement_timeout_seconds: float = Field(
        5.0, gt=0, le=600, description="PostgreSQL: statement_timeout and lock_timeout of the "
        "service's statements; the client gives up on a server that does not answer at all "
        "(frozen, cut off) a little later. Migrations run without it.")
    database_pool_timeout_seconds: float = Field(
        3.0, gt=0, le=120, description="Longest wait for a free pooled connection.")
    database_busy_timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="SQLite: longest wait for another writer's lock.")
    database_retry_after_seconds: float = Field(
        5.0, ge=1, le=300, description="After a connection-level failure the database is "
        "considered down for this long: requests that need it answer 503 database_unavailable "
        "with this Retry-After at once instead of waiting, then one request probes it again.")
    spool_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Search and click events kept on disk "
        "(DATA_DIR/spool) while the database is unreachable, at most this many bytes; beyond, "
        "new events are dropped and counted (/readyz, logs).")
    chat_timeout_seconds: float = Field(
        20.0, gt=0, le=600, description="Chatbot: a turn not answered within this time is "
        "abandoned (503 unavailable), as is one whose client went away: neither is ever "
        "committed afterwards.")
    ticket_timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="Hand-off: longest an escalation waits for the ticket "
        "system, and the bound of every phase (connect, each read and write) of an attempt; a "
        "slower delivery goes on in the background and the escalation answers 'queued'.")
    log_level: str = Field(
        "info", pattern="^(critical|error|warning|info|debug|trace)$",
        description="uvicorn log level for `fieldguide serve`.")
    chat_confidence_threshold: float = Field(
        _CHAT.confidence_threshold,
        ge=0, le=1, description="Chatbot: below this confidence the reply is a fallback "
        "(\"the knowledge base has no answer\"); chosen with bench/chat.py.")
    chat_clarify_margin: float = Field(
        _CHAT.clarify_margin, ge=0, le=1, description="Chatbot: top answers closer than this (and about "
        "different things) get a clarifying question.")
    chat_clarify_distinct: float = Field(
        _CHAT.clarify_distinct,
        ge=0, le=1, description="Chatbot: two articles whose heads are less similar than "
        "this cosine are about different things.")
    chat_intent_threshold: float = Field(
        _CHAT.intent_threshold,
        ge=0, le=1, description="Chatbot: cosine to an intent example (greeting, thanks, "
        "human please, didn't help...) needed to take that intent.")
    chat_intent_fuzzy_threshold: float = Field(
        _CHAT.intent_fuzzy_threshold,
        ge=0, le=100, description="Chatbot: rapidfuzz ratio for short messages to match "
        "an intent example despite typos.")
    chat_max_message_chars: int = Field(
        _CHAT.max_message_chars,
        ge=1, le=100_000, description="Chatbot: longest accepted message (characters).")
    chat_potential_window: float = Field(
        _CHAT.potential_window / dt.timedelta(hours=1),
        gt=0, description="Chatbot: hours after an answer without feedback, return or "
        "escalation before the conversation counts as a potential deflection.")
    chat_idle_timeout: float = Field(
        _CHAT.idle_timeout / dt.timedelta(minutes=1),
        gt=0, description="Chatbot: minutes of inactivity before the sweep closes a "
        "conversation.")
    chat_sweep_seconds: float = Field(
        300.0, ge=0, description="Chatbot: how often the server sweeps idle conversations; "
        "0 disables the background sweep.")
    session_secret: str | None = Field(
        None, repr=False, min_length=32, description="Key that signs session and CSRF cookies "
        "(at least 32 characters; unset: a random one kept in DATA_DIR/session-secret, shared "
        "by the workers of one host). Changing it signs everyone out.")
    session_hours: float = Field(
        12.0, gt=0, le=24 * 90, description="How long a sign-in lasts (hours) before the "
        "browser must sign in again.")
    session_refresh_seconds: int = Field(
        300, ge=1, le=86400, description="How often (seconds) a single sign-on session asks "
        "the identity provider again for the person's groups: the next request after that "
        "refreshes them, so a group removed at the provider narrows access within this time.")
    session_refresh_grace_seconds: int = Field(
        900, ge=0, le=86400, description="How long (seconds) past a due refresh a single "
        "sign-on session keeps its last confirmed groups while the identity provider cannot "
        "be reached; after that the session ends.")
    auth_failure_burst: int = Field(
        10, ge=1, description="Failed authentications (a wrong key, token, session or webhook "
        "signature) a client may make in a row before it is answered 429.")
    auth_failures_per_minute: float = Field(
        6.0, ge=0, description="How fast a client's failed-authentication budget refills "
        "(per minute); 0 disables the limit.")
    oidc_issuer: str | None = Field(
        None, description="OpenID Connect issuer URL (its /.well-known/openid-configuration is "
        "read at the first sign-in); set with OIDC_CLIENT_ID to offer single sign-on.")
    oidc_client_id: str | None = Field(None, description="OpenID Connect client id.")
    oidc_client_secret: str | None = Field(
        None, repr=False, description="OpenID Connect client secret (client_secret_basic).")
    oidc_scopes: str = Field("openid email profile", description="Scopes asked for at sign-in "
                             "(space-separated; must include openid).")
    oidc_groups_claim: str = Field(
        "groups", min_length=1, description="The ID token claim that lists a person's groups.")
    role_groups: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated GROUP=ROLE[:AUDIENCE+AUDIENCE] or "
        "GROUP=owner:TEAM: what each identity-provider group gives (roles reader, engineer, "
        "admin; extra audiences to read; team ownership). People in no listed group are "
        "readers.")
    ticket_retries: int = Field(3, ge=1, le=10, description="Hand-off ticket delivery attempts.")
    ticket_backoff_seconds: float = Field(
        0.5, ge=0, le=60, description="Seconds before the second ticket delivery attempt "
        "(doubles each time).")

    @field_validator("engineer_keys", "cors_origins", "allowed_hosts", "role_groups",
                     "audiences", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("engineer_keys")
    @classmethod
    def _hash_keys(cls, keys: list[str]) -> list[str]:
        return [k if k.startswith("sha256:") else hash_key(k) for k in keys]

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: str | None) -> str | None:
        if value is not None and len(value.strip()) < 16:
            raise ValueError("admin_token must be at least 16 characters (or unset to disable "
                             "admin routes)")
        return value

    @field_validator("audiences")
    @classmethod
    def _audiences(cls, names: list[str]) -> list[str]:
        return [a.value for a in audience_vocabulary(names)]  # the built-in two first

    @model_validator(mode="after")
    def _audience_names(self) -> Settings:
        """Every audience a setting names comes from AUDIENCES (one line naming the setting
        and the allowed values otherwise)."""
        from app.groups import parse_role_groups

        vocabulary = self.audience_vocabulary
        for name in ("default_audience", "slack_audience", "teams_audience"):
            try:
                Audience.parse(getattr(self, name), vocabulary)
            except ValueError as exc:
                raise ValueError(f"FIELDGUIDE_{name.upper()}: {exc}") from None
        try:
            parse_role_groups(self.role_groups, vocabulary)
        except ValueError as exc:
            raise ValueError(f"FIELDGUIDE_ROLE_GROUPS: {exc}") from None
        return self

    @property
    def audience_vocabulary(self) -> tuple[Audience, ...]:
        """AUDIENCES as typed values, the built-in two first."""
        return audience_vocabulary(self.audiences)

    @model_validator(mode="after")
    def _oidc(self) -> Settings:
        if bool(self.oidc_issuer) != bool(self.oidc_client_id):
            raise ValueError("single sign-on needs both FIELDGUIDE_OIDC_ISSUER and "
                             "FIELDGUIDE_OIDC_CLIENT_ID (or neither)")
        if self.oidc_issuer and "openid" not in self.oidc_scopes.split():
            raise ValueError("FIELDGUIDE_OIDC_SCOPES must include openid")
        return self

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if self.index_dir is None:
            self.index_dir = self.data_dir / "index"
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'fieldguide.db').as_posix()}"
        return self

    @property
    def public_base(self) -> str:
        """The base of links made without a request: ``public_url``, else the default serve
        address (``DEFAULT_PUBLIC_URL``); no trailing slash."""
        return (self.public_url or DEFAULT_PUBLIC_URL).rstrip("/")

    @property
    def index_path(self) -> Path:
        assert self.index_dir is not None
        return self.index_dir

    def freshness_config(self) -> FreshnessConfig:
        """The freshness package's configuration, from the ``freshness_*``, ``notify_*``,
        ``smtp_*`` and webhook settings."""
        smtp = (SmtpConfig(self.smtp_host, self.smtp_port, self.smtp_from, self.smtp_user,
                           self.smtp_password, self.smtp_starttls) if self.smtp_host else None)
        return FreshnessConfig(
            policy=PolicyConfig(self.freshness_default_interval_days,
                                self.freshness_due_soon_days, self.freshness_grace_days,
                                self.freshness_timezone, self.unhelpful_votes,
                                self.vote_window_days),
            content_dir=self.content_dir, index_path=self.index_path,
            default_audience=self.default_audience, audiences=self.audience_vocabulary,
            public_url=self.public_base, public_url_set=self.public_url is not None,
            schedule_hours=self.freshness_schedule_hours,
            first_run_seconds=self.freshness_first_run_seconds, notify=self.freshness_notify,
            lookup_seconds=self.freshness_lookup_seconds,
            channels=ChannelsConfig(smtp, self.slack_webhook_url, self.teams_webhook_url,
                                    self.teams_card, self.notify_retries,
                                    self.notify_backoff_seconds))

    def db_timeouts(self) -> DbTimeouts:
        """The bounds of every database wait (``database_*`` settings)."""
        from app.db import DbTimeouts

        return DbTimeouts(connect=self.database_connect_timeout_seconds,
                          statement=self.database_statement_timeout_seconds,
                          pool=self.database_pool_timeout_seconds,
                          busy=self.database_busy_timeout_seconds,
                          retry_after=self.database_retry_after_seconds)

    def chat_config(self) -> ChatConfig:
        """The chatbot's knobs (``chat_*`` settings and the public URL)."""
        return ChatConfig(
            confidence_threshold=self.chat_confidence_threshold,
            clarify_margin=self.chat_clarify_margin, clarify_distinct=self.chat_clarify_distinct,
            intent_threshold=self.chat_intent_threshold,
            intent_fuzzy_threshold=self.chat_intent_fuzzy_threshold,
            max_message_chars=self.chat_max_message_chars,
            potential_window=dt.timedelta(hours=self.chat_potential_window),
            idle_timeout=dt.timedelta(minutes=self.chat_idle_timeout), public_url=self.public_base)

    def embedder(self, *, serving: bool) -> Embedder:
        """The configured model, caching document vectors next to the index."""
        from indexer.embed import Embedder

        return Embedder(self.model, cache_path=self.index_path / "embeddings.sqlite",
                        runtime=self.model_runtime, export_dir=self.model_cache_dir,
                        threads=self.model_threads if serving else None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            if not Path(config).is_file():
                raise ValueError(f"{CONFIG_ENV}={config}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)
