"""A real OpenID provider for the sign-in tests, built from Authlib's provider side (Flask).

Run as its own server: ``python -m tests.oidc_provider CONFIG.json`` prints ``ready <issuer>``
once it listens. CONFIG: ``{"port", "client_id", "client_secret", "redirect_uri",
"users": {name: {"password", "email", "groups"}}}``. It speaks what a provider speaks:
discovery, JWKS (a fresh RSA key each run), the authorization endpoint (a login form), the
token endpoint (client_secret_basic, PKCE S256 required, codes usable once), and ID tokens with
``nonce`` and the ``groups`` claim. Like most providers it issues a refresh token with the
code (Authlib's RefreshTokenGrant, rotated at each use, unless the config says
``"refresh_tokens": false``) and serves the userinfo endpoint (a bearer access token; the
person's current groups, unless ``"userinfo_groups": false``; left out of discovery with
``"userinfo": false``).

As an administrator would at a real provider: ``POST /_test/groups/<user>`` (a JSON list)
changes a user's groups; ``POST /_test/disable/<user>`` disables the user and revokes every
token they hold (a refresh is then ``invalid_grant``, userinfo a 401); ``POST
/_test/enable/<user>`` lets them sign in again. ``GET /_test/tokens/<user>`` shows the last
tokens issued (to check where they end up), ``GET /_test/hits`` counts the token endpoint's
requests by grant type and userinfo's; ``POST /_test/redirect_uri`` registers the client's
redirect URI once the service's port is known.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, jsonify, request
from joserfc.jwk import RSAKey
from markupsafe import escape
from werkzeug.serving import make_server

ID_TOKEN_SECONDS = 300
ACCESS_TOKEN_SECONDS = 3600


@dataclass
class User:
    name: str
    password: str
    email: str
    groups: list[str]
    disabled: bool = False

    def get_user_id(self) -> str:
        return self.name


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uri: str
    refresh_tokens: bool = True

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"openid", "email", "profile", "groups"}
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic" if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code" or (
            grant_type == "refresh_token" and self.refresh_tokens)


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Token:
    """An issued access token and the refresh token that came with it."""

    client_id: str
    user: str
    scope: str
    access_token: str
    refresh_token: str | None
    issued_at: int = field(default_factory=lambda: int(time.time()))
    expires_in: int = ACCESS_TOKEN_SECONDS
    revoked: bool = False

    def check_client(self, c: Client) -> bool:
        return c.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked


def build(config: dict[str, Any], issuer: str) -> Flask:
    app = Flask(__name__)
    users = {name: User(name, u["password"], u["email"], list(u["groups"]))
             for name, u in config["users"].items()}
    client = Client(config["client_id"], config["client_secret"], config["redirect_uri"],
                    bool(config.get("refresh_tokens", True)))
    codes: dict[str, Code] = {}
    tokens: list[Token] = []
    hits: dict[str, int] = {}
    key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4), "use": "sig",
                                                "alg": "RS256"})

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012 - Authlib's API

        def save_authorization_code(self, code: str, req: Any) -> None:
            codes[code] = Code(code, req.payload.client_id, req.payload.redirect_uri,
                               req.payload.scope, req.user.name, req.payload.data.get("nonce"),
                               req.payload.data.get("code_challenge"),
                               req.payload.data.get("code_challenge_method"))

        def query_authorization_code(self, code: str, c: Client) -> Code | None:
            found = codes.get(code)
            return found if found is not None and found.client_id == c.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            codes.pop(authorization_code.code, None)  # a code is good once

        def authenticate_user(self, authorization_code: Code) -> User:
            return users[authorization_code.user]

    class Refresh(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012 - Authlib's API
        INCLUDE_NEW_REFRESH_TOKEN = True  # rotated: each refresh token is good once

        def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
            found = next((t for t in tokens if t.refresh_token == refresh_token), None)
            if found is None or found.revoked or users[found.user].disabled:
                return None  # Authlib answers invalid_grant
            return found

        def authenticate_user(self, credential: Token) -> User:
            return users[credential.user]

        def revoke_old_credential(self, credential: Token) -> None:
            credential.revoked = True

    class IdToken(OpenIDCode):
        def resolve_client_private_key(self, c: Client) -> RSAKey:
            return key

        def get_client_claims(self, c: Client) -> dict[str, Any]:
            return {"iss": issuer, "aud": [c.client_id],
                    "exp": int(time.time()) + ID_TOKEN_SECONDS}

        def get_encode_header(self, c: Client) -> dict[str, Any]:
            return {"alg": "RS256", "kid": key.kid}

        def exists_nonce(self, nonce: str, req: Any) -> bool:
            return any(c.nonce == nonce for c in codes.values())

        def generate_user_info(self, user: User, scope: str) -> UserInfo:
            return UserInfo(sub=user.name, name=user.name.title(), email=user.email,
                            groups=list(users[user.name].groups))

    def save_token(token: dict[str, Any], req: Any) -> None:
        tokens.append(Token(client.client_id, req.user.name, str(token.get("scope", "")),
                            token["access_token"], token.get("refresh_token"),
                            expires_in=int(token.get("expires_in", ACCESS_TOKEN_SECONDS))))

    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    server = AuthorizationServer(app, query_client=lambda cid: client
                                 if cid == client.client_id else None,
                                 save_token=save_token)
    server.register_grant(CodeGrant, [IdToken(require_nonce=True), CodeChallenge(required=True)])
    server.register_grant(Refresh)

    class Bearer(BearerTokenValidator):
        def authenticate_token(self, token_string: str) -> Token | None:
            found = next((t for t in tokens if t.access_token == token_string), None)
            return None if found is None or users[found.user].disabled else found

    protect = ResourceProtector()
    protect.register_token_validator(Bearer())

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        return jsonify({
            "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks",
            **({"userinfo_endpoint": f"{issuer}/userinfo"} if config.get("userinfo", True)
               else {}),
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": ["openid", "email", "profile", "groups"]})

    @app.get("/jwks")
    def jwks() -> Response:
        return jsonify({"keys": [key.as_dict(private=False)]})

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        if request.method == "GET":
            try:  # validates the client, redirect URI, PKCE challenge and nonce
                server.get_consent_grant(end_user=None)
            except OAuth2Error as exc:
                return Response(f"bad request: {escape(exc.error)}", status=400)
            # The request's parameters stay in the form's URL; the body adds the credentials.
            return (f'<form method="post" action="/authorize?{escape(request.query_string.decode())}">'
                    '<input name="username"><input name="password" type="password">'
                    '<button type="submit">Log in</button></form>')
        user = users.get(request.form.get("username", ""))
        if user is None or user.disabled or not secrets.compare_digest(user.password,
                                                      request.form.get("password", "")):
            return Response("wrong user or password", status=401)
        return server.create_authorization_response(grant_user=user)

    @app.post("/token")
    def token() -> Any:
        grant = request.form.get("grant_type", "")
        hits[grant] = hits.get(grant, 0) + 1
        return server.create_token_response()

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo() -> Any:
        hits["userinfo"] = hits.get("userinfo", 0) + 1
        with protect.acquire("openid") as held:
            user = users[held.user]
            claims = {"sub": user.name, "name": user.name.title(), "email": user.email}
            if config.get("userinfo_groups", True):  # false: groups in the ID token only
                claims["groups"] = list(user.groups)
            return jsonify(claims)

    @app.get("/_test/tokens/<name>")
    def last_tokens(name: str) -> Response:
        held = [t for t in tokens if t.user == name]
        return jsonify({"access_token": held[-1].access_token if held else None,
                        "refresh_token": held[-1].refresh_token if held else None})

    @app.get("/_test/hits")
    def get_hits() -> Response:
        return jsonify(hits)

    @app.post("/_test/disable/<name>")
    def disable(name: str) -> Response:
        users[name].disabled = True
        for held in tokens:
            if held.user == name:
                held.revoked = True
        return jsonify({"user": name, "disabled": True})

    @app.post("/_test/enable/<name>")
    def enable(name: str) -> Response:
        users[name].disabled = False  # may sign in again; the revoked tokens stay revoked
        return jsonify({"user": name, "disabled": False})

    @app.post("/_test/redirect_uri")
    def set_redirect() -> Response:
        client.redirect_uri = str(request.get_json())
        return jsonify({"redirect_uri": client.redirect_uri})

    @app.post("/_test/groups/<name>")
    def set_groups(name: str) -> Response:
        users[name].groups = list(request.get_json())
        return jsonify({"user": name, "groups": users[name].groups})

    return app


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    server = make_server("127.0.0.1", int(config.get("port", 0)), Flask(__name__))
    issuer = f"http://127.0.0.1:{server.server_port}"
    server.app = build(config, issuer)
    print(f"ready {issuer}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
