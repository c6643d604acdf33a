"""Single sign-on with OpenID Connect, by Authlib: authorization code with PKCE, state, nonce.

    >>> sso = SingleSignOn.from_settings(settings)   # None when OIDC is not configured
    >>> install(app, settings)                       # in create_app: app.state.oidc, the cookie

Authlib does the protocol: discovery from ``FIELDGUIDE_OIDC_ISSUER``, the authorization URL with
``state``, ``nonce`` and an S256 ``code_challenge``, the code exchange, and the ID token's
signature (the provider's JWKS), issuer, audience, expiry and nonce. Between the redirect out and
the callback, that state lives in a signed, ``HttpOnly``, ``SameSite=Lax`` cookie
(``fieldguide_oidc``, path ``/signin``, ten minutes) and is used once. The person's groups then
decide their role, audiences and teams (``app.groups``). The session keeps what it needs to ask
the provider again (``app.session_refresh``: the refresh token the token endpoint returned, the
access token for userinfo), so a group removed at the provider takes effect at the next refresh
(``FIELDGUIDE_SESSION_REFRESH_SECONDS``). With a refresh token the session lasts
``FIELDGUIDE_SESSION_HOURS`` (each refresh confirms the person); without one, until the ID
token expires.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from authlib.integrations.starlette_client import OAuth
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.middleware.sessions import SessionMiddleware

from app.groups import GroupGrant, parse_role_groups, person_from_claims
from app.people import Person
from app.session_refresh import ProviderGrant
from app.sessions import load_secret
from app.settings import Settings

log = logging.getLogger("fieldguide.oidc")
STATE_COOKIE = "fieldguide_oidc"
CALLBACK = "/signin/oidc/callback"
STATE_SECONDS = 600


class SignOnError(Exception):
    """The sign-on did not complete; the message is safe to show (no token, no secret)."""


@dataclass(frozen=True)
class SignedOn:
    person: Person
    expires: dt.datetime | None  # the ID token's exp
    grant: ProviderGrant | None = None  # to ask the provider again (secret: never logged)


@dataclass
class SingleSignOn:
    settings: Settings
    oauth: OAuth
    grants: dict[str, list[GroupGrant]]

    @classmethod
    def from_settings(cls, settings: Settings) -> SingleSignOn | None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            return None
        oauth = OAuth()
        issuer = settings.oidc_issuer.rstrip("/")
        oauth.register(
            "sso", client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256",
                           "timeout": 10})
        return cls(settings, oauth, parse_role_groups(settings.role_groups, settings.audience_vocabulary))

    @property
    def client(self) -> Any:
        return self.oauth.create_client("sso")

    def callback_url(self) -> str:
        return self.settings.public_base + CALLBACK

    async def redirect(self, request: Request, next_path: str) -> Response:
        """The redirect to the provider (state, nonce and PKCE verifier kept for the callback)."""
        try:
            await self._check_issuer()
            request.session["next"] = next_path
            response: Response = await self.client.authorize_redirect(request,
                                                                      self.callback_url())
            return response
        except SignOnError:
            raise
        except Exception as exc:  # the provider is down or its discovery document is bad
            log.warning("single sign-on: cannot start (%s)", exc.__class__.__name__)
            raise SignOnError("the identity provider cannot be reached; try again later, or "
                              "paste a personal key") from None

    async def finish(self, request: Request) -> SignedOn:
        """The callback: the code exchanged, the ID token checked, the person from its claims."""
        if "error" in request.query_params:
            raise SignOnError("the identity provider refused the sign-in ("
                              f"{request.query_params['error'][:64]})")
        try:
            token = await self.client.authorize_access_token(request)
        except Exception as exc:  # bad state, replayed code, bad token: all a failed sign-in
            log.info("single sign-on refused: %s", exc.__class__.__name__)
            raise SignOnError("the sign-in could not be completed (it may have expired or "
                              "been used already): start again") from None
        claims = token.get("userinfo")
        if not claims or not claims.get("sub"):
            raise SignOnError("the identity provider sent no ID token")
        exp = claims.get("exp")
        expires = dt.datetime.fromtimestamp(exp, dt.UTC) if isinstance(exp, int) else None
        # Asking again needs the userinfo endpoint: without one the session is as it was, bounded
        # by the ID token.
        metadata = await self.client.load_server_metadata()
        grant = (ProviderGrant.of(str(claims["sub"]), dict(token))
                 if metadata.get("userinfo_endpoint") else None)
        return SignedOn(person_from_claims(claims, self.settings.oidc_groups_claim, self.grants),
                        expires, grant)

    async def _check_issuer(self) -> None:
        metadata = await self.client.load_server_metadata()
        wanted = (self.settings.oidc_issuer or "").rstrip("/")
        if str(metadata.get("issuer", "")).rstrip("/") != wanted:
            raise SignOnError("the identity provider's discovery document names another issuer "
                              "than FIELDGUIDE_OIDC_ISSUER")


def install(app: FastAPI, settings: Settings) -> None:
    """Put the single sign-on (or None) on ``app.state.oidc``; with it, the state cookie."""
    sso = SingleSignOn.from_settings(settings)
    app.state.oidc = sso
    if sso is None:
        return
    app.add_middleware(SessionMiddleware,
                       secret_key=load_secret(settings.session_secret, settings.data_dir).decode(),
                       session_cookie=STATE_COOKIE, max_age=STATE_SECONDS, path="/signin",
                       same_site="lax", https_only=settings.public_base.startswith("https://"))
