"""The OpenAPI document says what the routes really answer, errors included.

FastAPI documents a route's success answer and its validation errors; the rest of what a client
can receive comes from layers every route shares: the trusted-host check (400 ``bad_host``), the
credentials (401 for a wrong key or session, 429 once failed attempts are rate-limited), the
database (503 ``database_unavailable``), the index (503 ``not_ready``). ``install`` adds those to
every operation, with the one error body of ``app/errors.py``, so a client generated from
``/openapi.json`` (or a schemathesis run) knows every status and content type it may meet.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.errors import ERRORS

ERROR_SCHEMA = "ErrorBody"
_ERROR_BODY: dict[str, Any] = {
    "title": ERROR_SCHEMA,
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string", "enum": sorted(ERRORS)},
                       "message": {"type": "string"}},
    }},
}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# ``openapi_extra={REQUIRED: ["q"]}`` on a route: parameters its handler checks itself (to answer
# with its own error code) that the document should still call required.
REQUIRED = "x-fieldguide-required"
# ``json_schema_extra=NOT_BLANK``: a text its handler rejects with its own code when it holds
# nothing but spaces and control characters; ``QUERY_TEXT``: the same, and no NUL anywhere.
_VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]"
NOT_BLANK: dict[str, Any] = {"minLength": 1, "pattern": _VISIBLE}
VISIBLE = re.compile(_VISIBLE)
QUERY_TEXT: dict[str, Any] = {"minLength": 1,
                              "pattern": rf"^[^\x00]*{_VISIBLE}[^\x00]*$"}


def _codes(status: int) -> str:
    return ", ".join(sorted(c for c, s in ERRORS.items() if s == status))


def _error(status: int) -> dict[str, Any]:
    return {"description": _codes(status),
            "content": {"application/json": {"schema": {
                "$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}}


def statuses(path: str, op: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer beyond its own declarations."""
    out = {400, 401, 429, 500, 503}  # host, credentials, failed-auth limit, the last resort, db
    params = op.get("parameters") or []
    body = "requestBody" in op
    if params or body:
        out.add(422)
    if "{" in path or body or params:  # it names something (an incident...) that may not exist
        out.add(404)
    if body:
        out |= {413, 415}
    if path.startswith("/api/incidents"):  # a step out of order, a retrospective too early
        out.add(409)
    if path.startswith(("/api/admin", "/api/chat/tickets", "/api/metrics", "/api/coverage",
                        "/api/chatops", "/api/hooks", "/api/articles/")) or "review" in path:
        out.add(403)
    return out


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the shared error answers added to every operation (in place)."""
    schema.setdefault("components", {}).setdefault("schemas", {})[ERROR_SCHEMA] = _ERROR_BODY
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if method not in _METHODS:
                continue
            for name in op.pop(REQUIRED, ()):
                for param in op.get("parameters") or ():
                    if param.get("name") == name:
                        param["required"] = True
            responses = op.setdefault("responses", {})
            for status in sorted(statuses(path, op)):
                key = str(status)
                if key not in responses:
                    responses[key] = _error(status)
                else:  # declared by the route: make sure it names the error body too
                    responses[key].setdefault("content", _error(status)["content"])
    return schema


def _audience_enum(node: Any, vocabulary: list[str]) -> None:
    """The search's audience filter names FIELDGUIDE_AUDIENCES: this deployment's vocabulary
    replaces the name pattern the route declares (as the enum of the two built-in ones did)."""
    from app.routes.search import AUDIENCE_PATTERN

    if isinstance(node, dict):
        if node.get("pattern") == AUDIENCE_PATTERN:
            del node["pattern"]
            node["enum"] = vocabulary
        for value in node.values():
            _audience_enum(value, vocabulary)
    elif isinstance(node, list):
        for value in node:
            _audience_enum(value, vocabulary)


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = document_errors(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes))
            settings = getattr(app.state, "settings", None)
            if settings is not None:
                _audience_enum(schema, [a.value for a in settings.audience_vocabulary])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
