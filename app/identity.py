"""Who a credential belongs to: personal keys, the old engineer keys, the admin token, sessions.

    >>> identity = Identity.build(settings, sessions)     # in the lifespan, on app.state
    >>> identity.bearer("fgk_...")                        # a Person, or None
    >>> identity.session(cookie)                          # a Person, or None

Nothing here knows HTTP; ``app.access`` turns requests into callers with it.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.groups import parse_role_groups, person_from_groups
from app.people import KEY_PREFIX, Person, PersonKeys, Role
from app.session_refresh import GroupRefresher
from app.sessions import RefreshPolicy, SessionStore, Signer, load_secret
from app.settings import Settings, hash_key

LEGACY_NAME = "engineer key"
ADMIN_NAME = "admin"


def legacy_person() -> Person:
    return Person(LEGACY_NAME, None, Role.ENGINEER, source="legacy-key")


def admin_person() -> Person:
    return Person(ADMIN_NAME, None, Role.ADMIN, source="admin-token")


def static_credential(settings: Settings, token: str) -> tuple[Person, str] | None:
    """An admin token or one of FIELDGUIDE_ENGINEER_KEYS: its person and the hash a session
    keeps to check, at each request, that the credential is still configured."""
    hashed = hash_key(token)
    # Every key is compared, no early exit: timing says nothing about which one matched.
    found = False
    for key in settings.engineer_keys:
        found |= hmac.compare_digest(hashed, key)
    admin = bool(settings.admin_token) and hmac.compare_digest(
        token.encode(), (settings.admin_token or "").encode())
    if admin:
        return admin_person(), hashed
    if found:
        return legacy_person(), hashed
    return None


@dataclass
class Identity:
    settings: Settings
    keys: PersonKeys
    store: SessionStore

    @classmethod
    def build(cls, settings: Settings, sessions: sessionmaker[Session]) -> Identity:
        keys = PersonKeys(sessions)
        signer = Signer(load_secret(settings.session_secret, settings.data_dir))

        def live(source: str, credential: str) -> bool:
            if source == "admin-token":
                return bool(settings.admin_token) and hmac.compare_digest(
                    hash_key(settings.admin_token or ""), credential)
            return any(hmac.compare_digest(credential, k) for k in settings.engineer_keys)

        grants = parse_role_groups(settings.role_groups, settings.audience_vocabulary)

        def group_person(name: str, email: str | None, groups: frozenset[str]) -> Person:
            return person_from_groups(name, email, groups, grants)

        policy = RefreshPolicy(GroupRefresher.from_settings(settings),
                               dt.timedelta(seconds=settings.session_refresh_seconds),
                               dt.timedelta(seconds=settings.session_refresh_grace_seconds))
        store = SessionStore(sessions, signer, dt.timedelta(hours=settings.session_hours),
                             keys.person_by_id, live, group_person, policy)
        return cls(settings, keys, store)

    def credential(self, token: str) -> tuple[Person, str | None] | None:
        """The person a pasted key or bearer token stands for, with what a session keeps."""
        if token.startswith(KEY_PREFIX):
            person = self.keys.person_for(token)
            return None if person is None else (person, None)
        return static_credential(self.settings, token)

    def bearer(self, token: str) -> Person | None:
        found = self.credential(token)
        return None if found is None else found[0]

    def session(self, cookie: str) -> Person | None:
        return self.store.person(cookie)
