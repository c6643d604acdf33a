"""People and their personal API keys: roles, what each role may read, keys stored hashed.

    >>> keys = PersonKeys(sessions)
    >>> created = keys.create("Ada", "ada@example.com", Role.ENGINEER, teams=("platform",))
    >>> print(created.secret)            # shown once; only its sha256 is kept
    >>> keys.person_for(created.secret)  # a Person, or None for an unknown or revoked key

A key is ``fgk_`` and 43 random URL-safe characters (256 bits), so a plain sha256 is enough to
keep it: there is nothing to guess. The prefix tells the server which keys to look up in the
database (the old ``FIELDGUIDE_ENGINEER_KEYS`` are compared in memory, as before).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import JSON, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from app.models import Base, utcnow
from indexer.article import STAFF, Audience

KEY_PREFIX = "fgk_"
# last_used_at is written at most this often per key: a busy key must not write on every call.
LAST_USED_EVERY = dt.timedelta(seconds=60)


class Role(StrEnum):
    """What a person may do. Readers see end-user articles; engineers end-user and engineer
    articles; admins every audience. Admins may review any article (others only their own or
    their teams'). An audience an organisation adds (``security``) is read by those a group or
    their key gives it to, and by admins."""

    READER = "reader"
    ENGINEER = "engineer"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls(value.strip().lower())
        except ValueError:
            allowed = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown role {value!r} (allowed: {allowed})") from None

    @property
    def rank(self) -> int:
        return list(Role).index(self)


ROLE_AUDIENCES: dict[Role, frozenset[Audience]] = {
    Role.READER: frozenset({Audience.END_USER}),
    Role.ENGINEER: STAFF,
    Role.ADMIN: STAFF,  # and every added audience: app.access.Caller.of gives the vocabulary
}


@dataclass(frozen=True)
class Person:
    """Who is behind a request. ``source``: ``key`` (a personal key), ``legacy-key`` (one of
    FIELDGUIDE_ENGINEER_KEYS, unnamed), ``admin-token`` or ``oidc``."""

    name: str
    email: str | None
    role: Role
    teams: frozenset[str] = frozenset()
    source: str = "key"
    key_id: int | None = None
    audiences: frozenset[Audience] = field(default=frozenset())
    groups: frozenset[str] = frozenset()  # single sign-on: the provider's groups at sign-in

    def __post_init__(self) -> None:
        if not self.audiences:
            object.__setattr__(self, "audiences", ROLE_AUDIENCES[self.role])

    @property
    def label(self) -> str:
        """How the person is shown and recorded: ``Name <email>``, or the name alone."""
        return f"{self.name} <{self.email}>" if self.email else self.name


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class PersonKeyRow(Base):
    """A personal API key: whose it is, their role and teams; the key itself only hashed."""

    __tablename__ = "person_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # fgk_ + 4 characters, to tell keys apart
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(16))
    teams: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Audiences beyond the role's (``keys create --audience security``); NULL: none.
    audiences: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class KeyInfo:
    """A key as ``keys list`` shows it (never the key)."""

    id: int
    prefix: str
    name: str
    email: str
    role: Role
    teams: tuple[str, ...]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    audiences: tuple[str, ...] = ()  # beyond the role's

    @classmethod
    def of(cls, row: PersonKeyRow) -> KeyInfo:
        return cls(row.id, row.prefix, row.name, row.email, Role.parse(row.role),
                   tuple(row.teams or ()), _aware(row.created_at), _aware_or_none(row.last_used_at),
                   _aware_or_none(row.revoked_at), tuple(row.audiences or ()))


@dataclass(frozen=True)
class CreatedKey:
    info: KeyInfo
    secret: str  # the only time the key exists outside its owner's hands


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _aware_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _aware(value)


def person_of(row: PersonKeyRow) -> Person:
    role = Role.parse(row.role)
    extra = frozenset(Audience(a) for a in row.audiences or ())
    return Person(row.name, row.email, role, frozenset(row.teams or ()), source="key",
                  key_id=row.id, audiences=ROLE_AUDIENCES[role] | extra)


def _clean(value: str, what: str, limit: int) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValueError(f"{what} must not be empty")
    if len(text) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    return text


class PersonKeys:
    """Create, list, revoke and look up personal keys (SQLite or PostgreSQL)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._written: dict[int, dt.datetime] = {}
        self._lock = threading.Lock()

    def create(self, name: str, email: str, role: Role, teams: Iterable[str] = (),
               audiences: Iterable[Audience] = ()) -> CreatedKey:
        """A new key; ``audiences``: what it reads beyond the role's (checked against the
        vocabulary by the caller)."""
        name = _clean(name, "name", 200)
        email = _clean(email, "email", 320)
        if "@" not in email or " " in email:
            raise ValueError(f"email {email!r} is not an email address")
        team_ids = sorted({_clean(t, "team", 128) for t in teams})
        extra = sorted({a.value for a in audiences} - {a.value for a in ROLE_AUDIENCES[role]})
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.sessions.begin() as db:
            row = PersonKeyRow(key_hash=hash_secret(secret), prefix=secret[:8], name=name,
                               email=email.lower(), role=role.value, teams=team_ids,
                               audiences=extra or None, created_at=utcnow())
            db.add(row)
            db.flush()
            return CreatedKey(KeyInfo.of(row), secret)

    def list(self, include_revoked: bool = True) -> list[KeyInfo]:
        with self.sessions() as db:
            query = select(PersonKeyRow).order_by(PersonKeyRow.id)
            if not include_revoked:
                query = query.where(PersonKeyRow.revoked_at.is_(None))
            return [KeyInfo.of(r) for r in db.scalars(query)]

    def revoke(self, key_id: int) -> KeyInfo | None:
        """Revoke key ``key_id`` (and so every session signed in with it); None if unknown."""
        with self.sessions.begin() as db:
            row = db.get(PersonKeyRow, key_id)
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return KeyInfo.of(row)

    def person_for(self, secret: str, now: dt.datetime | None = None) -> Person | None:
        """The person whose live key ``secret`` is; None for an unknown or revoked key."""
        if not secret.startswith(KEY_PREFIX) or len(secret) > 128:
            return None
        with self.sessions() as db:
            row = db.scalars(select(PersonKeyRow).where(
                PersonKeyRow.key_hash == hash_secret(secret))).first()
            if row is None or row.revoked_at is not None:
                return None
            person = person_of(row)
        self.touch(person.key_id, now)
        return person

    def person_by_id(self, key_id: int) -> Person | None:
        """The live key ``key_id``'s person (sessions signed in with a key read it each time,
        so a revoked key or a changed role takes effect at the next request)."""
        with self.sessions() as db:
            row = db.get(PersonKeyRow, key_id)
            if row is None or row.revoked_at is not None:
                return None
            return person_of(row)

    def touch(self, key_id: int | None, now: dt.datetime | None = None) -> None:
        if key_id is None:
            return
        now = now or utcnow()
        with self._lock:
            last = self._written.get(key_id)
            if last is not None and now - last < LAST_USED_EVERY:
                return
            self._written[key_id] = now
        with self.sessions.begin() as db:
            row = db.get(PersonKeyRow, key_id)
            if row is not None:
                row.last_used_at = now
