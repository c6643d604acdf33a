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
said at sign-in (until the ID token expires) and derives the role, audiences and teams from them
and the current ``FIELDGUIDE_ROLE_GROUPS`` at every request, so a group removed from the mapping
narrows access at the next request.
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

from sqlalchemy import JSON, DateTime, Integer, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from app.models import Base, utcnow
from app.people import Person, Role, hash_secret
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
                 group_person: Callable[[str, str | None, frozenset[str]], Person] | None = None
                 ) -> None:
        self.sessions = sessions
        self.signer = signer
        self.lifetime = lifetime
        self.key_person = key_person
        self.credential_live = credential_live  # (source, credential hash) -> still valid?
        # (name, email, groups) -> the person those groups make under the current settings
        self.group_person = group_person

    def open(self, person: Person, credential_hash: str | None = None,
             now: dt.datetime | None = None, until: dt.datetime | None = None) -> str:
        """A new session for ``person``; it ends after the lifetime, or at ``until`` if sooner
        (a single sign-on's ID token expiry)."""
        now = now or utcnow()
        expires = now + self.lifetime if until is None else min(now + self.lifetime, until)
        token = secrets.token_urlsafe(32)
        with self.sessions.begin() as db:
            db.add(WebSessionRow(
                id_hash=hash_secret(token), source=person.source, key_id=person.key_id,
                credential_hash=credential_hash, name=person.name[:200], email=person.email,
                role=person.role.value, teams=sorted(person.teams),
                audiences=sorted(a.value for a in person.audiences),
                groups=sorted(person.groups) if person.source == "oidc" else None,
                created_at=now, expires_at=expires))
            # Expired sessions are deleted as new ones open: the table stays small.
            db.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now))
        return self.signer.sign(token, "session")

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
            stored = Person(row.name, row.email, Role.parse(row.role), frozenset(row.teams),
                            source=row.source, key_id=row.key_id,
                            audiences=frozenset(Audience(a) for a in row.audiences))
        if source == "key":
            return self.key_person(key_id) if key_id is not None else None
        if source in ("legacy-key", "admin-token"):
            return stored if credential and self.credential_live(source, credential) else None
        if source == "oidc" and groups is not None and self.group_person is not None:
            return self.group_person(stored.name, stored.email, groups)
        return stored

    def revoke(self, cookie: str, now: dt.datetime | None = None) -> bool:
        with self.sessions.begin() as db:
            row = self._row(db, cookie)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = now or utcnow()
            return True
