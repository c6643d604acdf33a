"""Browser sessions: a random id in a signed cookie, the session itself stored server-side.

    >>> store = SessionStore(sessions, secret=b"...", lifetime=dt.timedelta(hours=12))
    >>> cookie = store.open(person)          # the cookie value: "<id>.<signature>"
    >>> store.person(cookie)                 # the Person while the session is live, else None
    >>> store.revoke(cookie)                 # signed out: the cookie is worthless from now on

The cookie carries nothing but a 256-bit random id and its HMAC-SHA256 under
``FIELDGUIDE_SESSION_SECRET``; the database keeps only the id's sha256, when it expires and
whether it was revoked. A tampered, unknown, expired or revoked cookie is simply no session.
A session opened with a personal key re-reads that key at every request, so revoking the key or
changing its role acts at once; one opened with the single sign-on keeps the groups the provider
said and derives the role, audiences and teams from them and the current
``FIELDGUIDE_ROLE_GROUPS`` at every request, so a group removed from the mapping narrows access
at the next request. Every ``FIELDGUIDE_SESSION_REFRESH_SECONDS`` the next request on such a
session asks the provider again (``app.session_refresh``) and stores the groups it says now:
a group removed at the provider narrows access then. One request claims that refresh in the
database (``refresh_due_at`` moved forward only where it is due: one winner across threads and
replicas); the others use the groups stored. A refusal ends the session; an unreachable
provider leaves the last confirmed groups in force for ``FIELDGUIDE_SESSION_REFRESH_GRACE_SECONDS``
past the refresh that was due, then ends it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import JSON, DateTime, Integer, String, Text, delete, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from app.models import Base, utcnow
from app.people import Person, Role, hash_secret
from app.session_refresh import TIMEOUT as TIMEOUT_SECONDS
from app.session_refresh import (
    GroupRefresher,
    ProviderGrant,
    ProviderRefused,
    ProviderUnreachable,
    TokenBox,
)
from indexer.article import Audience

log = logging.getLogger("fieldguide.sessions")
SESSION_COOKIE = "fieldguide_session"
CSRF_COOKIE = "fieldguide_csrf"
SECRET_FILE = "session-secret"  # noqa: S105 - a file name, not a secret


class WebSessionRow(Base):
    """One signed-in browser."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # key | legacy-key | admin-token | oidc
    key_id: Mapped[int | None] = mapped_column(Integer, index=True)
    credential_hash: Mapped[str | None] = mapped_column(String(80))  # legacy key / admin token
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    teams: Mapped[list[str]] = mapped_column(JSON, default=list)
    audiences: Mapped[list[str]] = mapped_column(JSON, default=list)
    groups: Mapped[list[str] | None] = mapped_column(JSON)  # single sign-on: provider's groups
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Single sign-on: the ProviderGrant, encrypted (TokenBox); when the provider last said the
    # groups; when the next request asks it again (NULL: never, no grant).
    provider_tokens: Mapped[str | None] = mapped_column(Text)
    groups_confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    refresh_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class RefreshPolicy:
    """How often a single sign-on session asks the provider again, and how long the last
    confirmed groups stand while it cannot be reached."""

    refresher: GroupRefresher | None
    interval: dt.timedelta = dt.timedelta(seconds=300)
    grace: dt.timedelta = dt.timedelta(seconds=900)

    @property
    def retry(self) -> dt.timedelta:
        """The wait before asking an unreachable provider again (one slow call per session
        per retry, not one per request)."""
        return min(self.interval, dt.timedelta(seconds=30))

    @property
    def lease(self) -> dt.timedelta:
        """How long a claimed refresh is left to its claimant: longer than the calls it makes,
        so a claimant that died mid-way only delays the next one."""
        return dt.timedelta(seconds=4 * TIMEOUT_SECONDS + 1)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def load_secret(configured: str | None, data_dir: Path) -> bytes:
    """FIELDGUIDE_SESSION_SECRET, else a random secret kept in DATA_DIR/session-secret (created
    once, mode 0600), so workers sharing the data directory and restarts agree on it."""
    if configured:
        return configured.encode()
    path = data_dir / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    log.warning("FIELDGUIDE_SESSION_SECRET is not set: using a secret kept in %s (set the "
                "setting when replicas do not share that directory)", path)
    return value


@dataclass(frozen=True)
class Signer:
    """HMAC-SHA256 signatures of short values under the session secret."""

    secret: bytes

    def sign(self, value: str, purpose: str) -> str:
        mac = hmac.new(self.secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return f"{value}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    def unsign(self, signed: str, purpose: str) -> str | None:
        value, dot, _mac = signed.rpartition(".")
        if not dot or not value or len(signed) > 256:
            return None
        return value if hmac.compare_digest(self.sign(value, purpose), signed) else None


class SessionStore:
    """Open, read and revoke sessions; ``key_person`` re-reads a personal key by id."""

    def __init__(self, sessions: sessionmaker[Session], signer: Signer, lifetime: dt.timedelta,
                 key_person: Callable[[int], Person | None],
                 credential_live: Callable[[str, str], bool],
                 group_person: Callable[[str, str | None, frozenset[str]], Person] | None = None,
                 policy: RefreshPolicy | None = None) -> None:
        self.sessions = sessions
        self.signer = signer
        self.lifetime = lifetime
        self.key_person = key_person
        self.credential_live = credential_live  # (source, credential hash) -> still valid?
        # (name, email, groups) -> the person those groups make under the current settings
        self.group_person = group_person
        self.policy = policy or RefreshPolicy(None)
        self.box = TokenBox(signer.secret)

    def open(self, person: Person, credential_hash: str | None = None,
             now: dt.datetime | None = None, until: dt.datetime | None = None,
             grant: ProviderGrant | None = None) -> str:
        """A new session for ``person``; it ends after the lifetime, or at ``until`` if sooner
        (a single sign-on's ID token expiry, unless a refresh token lets the session ask the
        provider again). ``grant``: what a single sign-on session asks the provider with."""
        now = now or utcnow()
        expires = self.ends_at(now, until, grant)
        asks = (grant is not None and person.source == "oidc"
                and self.policy.refresher is not None and grant.usable(now.timestamp()))
        token = secrets.token_urlsafe(32)
        with self.sessions.begin() as db:
            db.add(WebSessionRow(
                id_hash=hash_secret(token), source=person.source, key_id=person.key_id,
                credential_hash=credential_hash, name=person.name[:200], email=person.email,
                role=person.role.value, teams=sorted(person.teams),
                audiences=sorted(a.value for a in person.audiences),
                groups=sorted(person.groups) if person.source == "oidc" else None,
                created_at=now, expires_at=expires,
                provider_tokens=self.box.seal(grant) if asks and grant else None,
                groups_confirmed_at=now if person.source == "oidc" else None,
                refresh_due_at=now + self.policy.interval if asks else None))
            # Expired sessions are deleted as new ones open: the table stays small.
            db.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now))
        return self.signer.sign(token, "session")

    def ends_at(self, now: dt.datetime, until: dt.datetime | None,
                grant: ProviderGrant | None) -> dt.datetime:
        """When a session opened now ends: after the lifetime, or at ``until`` if sooner,
        unless a refresh token lets it ask the provider again (each refresh confirms the
        person, so the ID token's expiry no longer bounds it); without one, no later than the
        access token it asks userinfo with."""
        if grant is not None and self.policy.refresher is not None:
            if grant.refresh_token:
                until = None
            elif grant.access_expires is not None:  # userinfo answers no longer than this
                ends = dt.datetime.fromtimestamp(grant.access_expires, dt.UTC)
                until = ends if until is None else min(until, ends)
        return now + self.lifetime if until is None else min(now + self.lifetime, until)

    def _row(self, db: Session, cookie: str) -> WebSessionRow | None:
        token = self.signer.unsign(cookie, "session")
        return None if token is None else db.get(WebSessionRow, hash_secret(token))

    def person(self, cookie: str, now: dt.datetime | None = None) -> Person | None:
        """The session's person, or None: bad signature, unknown, expired, revoked, or the key
        it was opened with revoked or removed."""
        now = now or utcnow()
        with self.sessions() as db:
            row = self._row(db, cookie)
            if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
                return None
            source, key_id, credential = row.source, row.key_id, row.credential_hash
            groups = None if row.groups is None else frozenset(row.groups)
            due = row.refresh_due_at is not None and _aware(row.refresh_due_at) <= now
            id_hash = row.id_hash
            stored = Person(row.name, row.email, Role.parse(row.role), frozenset(row.teams),
                            source=row.source, key_id=row.key_id,
                            audiences=frozenset(Audience(a) for a in row.audiences))
        if source == "key":
            return self.key_person(key_id) if key_id is not None else None
        if source in ("legacy-key", "admin-token"):
            return stored if credential and self.credential_live(source, credential) else None
        if source == "oidc" and groups is not None and self.group_person is not None:
            if due and self.policy.refresher is not None:
                groups = self._refresh(id_hash, now)
                if groups is None:
                    return None
            return self.group_person(stored.name, stored.email, groups)
        return stored

    def _refresh(self, id_hash: str, now: dt.datetime) -> frozenset[str] | None:
        """The groups to use now for a session whose refresh is due: the provider's (and
        stored), the stored ones (another request holds the refresh, or the provider cannot
        be reached within the grace), or None (refused, or unreachable past the grace)."""
        policy = self.policy
        assert policy.refresher is not None
        with self.sessions.begin() as db:  # the claim: one request wins it
            claimed = db.execute(
                update(WebSessionRow)
                .where(WebSessionRow.id_hash == id_hash, WebSessionRow.revoked_at.is_(None),
                       WebSessionRow.refresh_due_at <= now)
                .values(refresh_due_at=now + policy.lease)
                .execution_options(synchronize_session=False))
            won = claimed.rowcount == 1  # type: ignore[attr-defined]
            row = db.get(WebSessionRow, id_hash)
            if row is None or row.revoked_at is not None:
                return None
            confirmed = _aware(row.groups_confirmed_at or row.created_at)
            sealed = row.provider_tokens
            stored = frozenset(row.groups or ())
        if not won:
            return stored
        grant = self.box.open(sealed) if sealed else None
        try:
            if grant is None:
                raise ProviderRefused("no usable grant")
            answer = policy.refresher.ask(grant)
        except ProviderRefused as exc:
            log.info("single sign-on session ended: the identity provider refused its "
                     "refresh (%s)", exc)
            self._end(id_hash, now)
            return None
        except Exception as exc:  # unreachable, or anything else gone wrong: never a 500
            why = str(exc) if isinstance(exc, ProviderUnreachable) else exc.__class__.__name__
            if now >= confirmed + policy.interval + policy.grace:
                log.warning("single sign-on session ended: the identity provider has not "
                            "answered since %s (%s)", confirmed.isoformat(timespec="seconds"),
                            why)
                self._end(id_hash, now)
                return None
            log.warning("identity provider unreachable for a session refresh (%s): keeping "
                        "the groups it confirmed at %s for up to %d s more", why,
                        confirmed.isoformat(timespec="seconds"),
                        (confirmed + policy.interval + policy.grace - now).total_seconds())
            with self.sessions.begin() as db:
                db.execute(update(WebSessionRow).where(WebSessionRow.id_hash == id_hash)
                           .values(refresh_due_at=now + policy.retry)
                           .execution_options(synchronize_session=False))
            return stored
        groups = stored if answer.groups is None else answer.groups
        new = self.group_person(
            "", None, groups) if self.group_person is not None else None
        with self.sessions.begin() as db:
            db.execute(update(WebSessionRow).where(WebSessionRow.id_hash == id_hash,
                                                   WebSessionRow.revoked_at.is_(None))
                       .values(groups=sorted(groups), groups_confirmed_at=now,
                               refresh_due_at=now + policy.interval,
                               provider_tokens=self.box.seal(answer.grant),
                               **({} if new is None else {
                                   "role": new.role.value, "teams": sorted(new.teams),
                                   "audiences": sorted(a.value for a in new.audiences)}))
                       .execution_options(synchronize_session=False))
        return groups

    def _end(self, id_hash: str, now: dt.datetime) -> None:
        with self.sessions.begin() as db:
            db.execute(update(WebSessionRow).where(WebSessionRow.id_hash == id_hash,
                                                   WebSessionRow.revoked_at.is_(None))
                       .values(revoked_at=now, provider_tokens=None)
                       .execution_options(synchronize_session=False))

    def revoke(self, cookie: str, now: dt.datetime | None = None) -> bool:
        with self.sessions.begin() as db:
            row = self._row(db, cookie)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = now or utcnow()
            row.provider_tokens = None  # signed out: nothing left to ask the provider with
            return True
