"""Verifying who sent a request, before anything is parsed: bearer tokens, PagerDuty's V3
signature, Slack's signing secret, Teams' outgoing-webhook HMAC. Constant-time compares only.

    >>> verify_slack(secret, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"],
    ...              raw_body, now=time.time())     # SignatureError when it does not hold
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


class SignatureError(Exception):
    """The sender could not be verified: a 401 with the message, nothing stored."""


def _hmac_hex(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify_bearer(expected: str | None, authorization: str | None) -> None:
    """``Authorization: Bearer <token>`` as Alertmanager's ``http_config.authorization`` sends it."""
    if not expected:
        raise SignatureError("alert intake is disabled: no alerts token is configured")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise SignatureError("missing bearer token")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise SignatureError("wrong bearer token")


def pagerduty_signature(secret: str, body: bytes) -> str:
    return "v1=" + _hmac_hex(secret.encode(), body)


def verify_pagerduty(secret: str | None, header: str | None, body: bytes) -> None:
    """``X-PagerDuty-Signature``: comma-separated ``v1=<hex HMAC-SHA256 of the raw body>``;
    several during a secret rotation, any one of them matching is enough."""
    if not secret:
        raise SignatureError("PagerDuty intake is disabled: no PagerDuty secret is configured")
    if not header:
        raise SignatureError("missing X-PagerDuty-Signature")
    expected = pagerduty_signature(secret, body)
    candidates = [s.strip() for s in header.split(",") if s.strip().startswith("v1=")]
    if not candidates:
        raise SignatureError("X-PagerDuty-Signature has no v1 signature")
    # Compare with every candidate (no early exit): the time taken does not say which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode(), expected.encode())
    if not matched:
        raise SignatureError("X-PagerDuty-Signature does not match")


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    return "v0=" + _hmac_hex(secret.encode(), b"v0:" + timestamp.encode() + b":" + body)


def verify_slack(secret: str | None, timestamp: str | None, signature: str | None, body: bytes,
                 *, now: float, max_age_s: int = 300) -> None:
    """Slack's request signing: ``v0=`` hex HMAC-SHA256 of ``v0:{timestamp}:{raw body}``, and a
    timestamp within ``max_age_s`` of ``now`` (a replayed request is older)."""
    if not secret:
        raise SignatureError("Slack commands are disabled: no signing secret is configured")
    if not timestamp or not signature:
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("X-Slack-Request-Timestamp is not a Unix time") from None
    if abs(now - sent) > max_age_s:
        raise SignatureError(f"X-Slack-Request-Timestamp is more than {max_age_s} s away from now")
    if not hmac.compare_digest(signature.encode(), slack_signature(secret, timestamp, body).encode()):
        raise SignatureError("X-Slack-Signature does not match")


def teams_signature(secret_b64: str, body: bytes) -> str:
    try:
        key = base64.b64decode(secret_b64, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the Teams outgoing-webhook secret is not base64") from None
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def verify_teams(secret_b64: str | None, authorization: str | None, body: bytes) -> None:
    """Teams outgoing webhooks: ``Authorization: HMAC <base64 HMAC-SHA256 of the raw body>``,
    keyed with the base64-decoded secret Teams showed when the webhook was created."""
    if not secret_b64:
        raise SignatureError("Teams commands are disabled: no outgoing-webhook secret is configured")
    scheme, _, provided = (authorization or "").partition(" ")
    if scheme != "HMAC" or not provided:
        raise SignatureError("missing Authorization: HMAC <signature>")
    if not hmac.compare_digest(provided.strip().encode(), teams_signature(secret_b64, body).encode()):
        raise SignatureError("the Teams HMAC does not match")
