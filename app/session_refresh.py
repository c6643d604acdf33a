"""Single sign-on sessions asked again: the provider's current groups, at a bounded interval.

    >>> refresher = GroupRefresher.from_settings(settings)   # None without single sign-on
    >>> refresher.ask(grant)        # Refreshed(groups, grant), or ProviderRefused/Unreachable

At sign-in the session keeps what it needs to ask the provider again (``ProviderGrant``: the
subject, the refresh token if the provider issued one, the access token), encrypted under
``FIELDGUIDE_SESSION_SECRET`` in the session's database row, never in the cookie. Asking is
the OAuth 2.0 refresh_token grant (RFC 6749 section 6, by Authlib's client; a rotated refresh
token replaces the old one), then the userinfo endpoint with the new access token (OpenID
Connect Core 5.3; its ``sub`` must be the session's). Without a refresh token, the access
token asks userinfo while it lasts. A userinfo answer without the groups claim (a provider
that puts groups in the ID token only) confirms the person and keeps the session's groups: a
missing claim never turns every engineer into a reader. A refusal (``invalid_grant``: the user disabled or the
token revoked; userinfo's 401) ends the session; a provider that cannot be reached within
``TIMEOUT`` seconds is ``ProviderUnreachable`` and the caller keeps the last known groups for
a bounded grace (``app.sessions``). Nothing here logs a token.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import threading
import time
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from cryptography.fernet import Fernet, InvalidToken

from app.groups import groups_of
from app.settings import Settings

TIMEOUT = 3.0  # seconds for each call to the provider: a request never waits longer on it
METADATA_SECONDS = 3600  # the discovery document is read again after an hour


def _http_module() -> ModuleType:
    """The HTTP library Authlib's client is built on (httpx2 where installed, else httpx):
    its exceptions are the ones a call to the provider raises."""
    for base in OAuth2Client.__mro__:
        root = base.__module__.split(".")[0]
        if root in ("httpx2", "httpx"):
            return importlib.import_module(root)
    return importlib.import_module("httpx")


_HTTP = _http_module()


class ProviderRefused(Exception):
    """The provider answered no: the session is over. The message names the error code only."""


class ProviderUnreachable(Exception):
    """No usable answer in time (connection error, timeout, a 5xx, a body that is not JSON)."""


@dataclass(frozen=True)
class ProviderGrant:
    """What a session needs to ask the provider again (all of it secret but ``subject``)."""

    subject: str
    refresh_token: str | None = None
    access_token: str | None = None
    access_expires: float | None = None  # epoch seconds

    def usable(self, now: float) -> bool:
        return bool(self.refresh_token) or (
            bool(self.access_token) and (self.access_expires is None or now < self.access_expires))

    @classmethod
    def of(cls, subject: str, token: dict[str, Any]) -> ProviderGrant:
        expires = token.get("expires_at")
        return cls(subject, token.get("refresh_token") or None, token.get("access_token") or None,
                   float(expires) if isinstance(expires, int | float) else None)


@dataclass(frozen=True)
class Refreshed:
    # None: the provider still vouches for the person but its userinfo carries no groups claim
    # (some put groups in the ID token only): the session keeps the groups it has.
    groups: frozenset[str] | None
    grant: ProviderGrant  # the rotated tokens, to store in place of the old ones


@dataclass(frozen=True)
class TokenBox:
    """Encrypts a grant for the database (Fernet: AES-CBC and HMAC) under a key derived from
    the session secret, so a copy of the database holds no usable refresh token."""

    secret: bytes

    def _fernet(self) -> Fernet:
        key = hashlib.sha256(b"fieldguide-provider-tokens:" + self.secret).digest()
        return Fernet(base64.urlsafe_b64encode(key))

    def seal(self, grant: ProviderGrant) -> str:
        return self._fernet().encrypt(json.dumps(grant.__dict__).encode()).decode()

    def open(self, sealed: str) -> ProviderGrant | None:
        try:
            data = json.loads(self._fernet().decrypt(sealed.encode()))
            return ProviderGrant(**data)
        except (InvalidToken, ValueError, TypeError):  # another secret, or not ours
            return None


class GroupRefresher:
    """Asks the provider for a person's current groups; safe from several threads."""

    def __init__(self, issuer: str, client_id: str, client_secret: str | None,
                 groups_claim: str, timeout: float = TIMEOUT) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.groups_claim = groups_claim
        self.timeout = timeout
        self._metadata: dict[str, Any] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> GroupRefresher | None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            return None
        return cls(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret,
                   settings.oidc_groups_claim)

    def _client(self, token: dict[str, Any] | None = None) -> OAuth2Client:
        return OAuth2Client(self.client_id, self.client_secret, token=token,
                            timeout=self.timeout)

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata and time.time() - self._loaded < METADATA_SECONDS:
                return self._metadata
        with self._client() as client:
            resp = client.request("GET", f"{self.issuer}/.well-known/openid-configuration",
                                  withhold_token=True)
        resp.raise_for_status()
        found = resp.json()
        if not isinstance(found, dict) or str(found.get("issuer", "")).rstrip("/") != self.issuer:
            raise ProviderUnreachable("the discovery document names another issuer")
        with self._lock:
            self._metadata, self._loaded = found, time.time()
        return found

    def ask(self, grant: ProviderGrant) -> Refreshed:
        """The person's groups now, by the refresh token (else the access token while it
        lasts) and the userinfo endpoint."""
        try:
            return self._ask(grant)
        except OAuthError as exc:  # the token endpoint's error answer (RFC 6749 5.2)
            raise ProviderRefused(str(exc.error or "refused")[:64]) from None
        except (_HTTP.TransportError, _HTTP.HTTPStatusError, ValueError) as exc:
            raise ProviderUnreachable(exc.__class__.__name__) from None

    def _ask(self, grant: ProviderGrant) -> Refreshed:
        metadata = self.metadata()
        userinfo_url = metadata.get("userinfo_endpoint")
        if not userinfo_url:
            raise ProviderRefused("no userinfo endpoint")
        with self._client() as client:
            if grant.refresh_token:
                token = client.refresh_token(metadata["token_endpoint"],
                                             refresh_token=grant.refresh_token)
                grant = replace(ProviderGrant.of(grant.subject, dict(token)),
                                refresh_token=token.get("refresh_token") or grant.refresh_token)
            elif not grant.usable(time.time()):
                raise ProviderRefused("access token expired")
            client.token = {"access_token": grant.access_token, "token_type": "Bearer"}
            resp = client.get(userinfo_url)
        if resp.status_code in (401, 403):  # the access token was revoked (RFC 6750 3.1)
            raise ProviderRefused("invalid_token")
        resp.raise_for_status()
        claims = resp.json()
        if not isinstance(claims, dict) or claims.get("sub") != grant.subject:
            # OpenID Connect Core 5.3.2: another subject's answer must not be used.
            raise ProviderRefused("userinfo names another subject")
        if self.groups_claim not in claims:
            return Refreshed(None, grant)
        return Refreshed(groups_of(claims, self.groups_claim), grant)
