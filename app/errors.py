"""The one error table: stable codes, their HTTP status, and the handlers that answer with them.

Every error a client sees has the body ``{"error": {"code": ..., "message": ...}}``; unhandled
exceptions become ``internal_error`` and their traceback stays in the server log.

    >>> raise ApiError("not_found", "no article 'vpn-reset'")
"""

from __future__ import annotations

import logging
import math
import urllib.parse
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("fieldguide.errors")

# code -> HTTP status. Codes are part of the API: add new ones, never rename.
ERRORS: dict[str, int] = {
    "bad_request": 400,
    "invalid_encoding": 400,
    "bad_host": 400,
    "unauthorized": 401,
    "invalid_api_key": 401,
    "forbidden": 403,
    "admin_disabled": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "reindex_running": 409,
    "article_not_shown": 409,
    "payload_too_large": 413,
    "query_too_long": 413,
    "url_too_long": 414,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "empty_query": 422,
    "unknown_parameter": 422,
    "rate_limited": 429,
    "internal_error": 500,
    "not_ready": 503,
    "unavailable": 503,
    "database_unavailable": 503,
}

# Starlette raises HTTPException with a bare status (unknown route, wrong method...).
_STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 414: "url_too_long",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error with a stable code from ``ERRORS``; raise it anywhere in a route."""

    def __init__(self, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        if code not in ERRORS:
            raise ValueError(f"unknown error code {code!r}: add it to app.errors.ERRORS")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = ERRORS[code]
        self.headers = dict(headers or {})


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(code: str, message: str, headers: Mapping[str, str] | None = None
                   ) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=ERRORS[code],
                        headers=dict(headers or {}))


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.code, exc.message, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500
                             else "internal_error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (Starlette names only the first route's:
    ``GET /api/search`` and ``POST /api/search`` are two routes)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods |= set(route_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response("validation_error", _validation_message(exc))


def database_unavailable(exc: BaseException) -> JSONResponse:
    """503 with Retry-After for a database that is down, timed out or saturated; the message
    names the failure's class only (a driver's message may carry a host name or a user)."""
    from app.db import DatabaseUnavailable

    retry = exc.retry_after if isinstance(exc, DatabaseUnavailable) else 5.0
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return error_response("database_unavailable", "the database is unavailable "
                          f"({type(cause).__name__}); retry in a few seconds",
                          {"Retry-After": str(max(1, math.ceil(retry)))})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    from app.db import is_outage

    if is_outage(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    str(exc).splitlines()[0][:300])
        return database_unavailable(exc)
    return await _unhandled(request, exc)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response("internal_error", "internal error; the details are in the server log")


class Utf8GuardMiddleware:
    """Reject paths and query strings whose percent-escapes are not UTF-8 (400, error body).

    Starlette would silently turn them into U+FFFD and search for garbage.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or scope.get("path", "").encode()
            for part in (raw_path, scope.get("query_string", b"")):
                try:
                    urllib.parse.unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
                except UnicodeDecodeError:
                    response = error_response("invalid_encoding",
                                              "the URL is not valid UTF-8 after percent-decoding")
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    """Route every error through the table above."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    from app.db import DatabaseUnavailable

    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(DatabaseUnavailable, _database_error)
    app.add_exception_handler(Exception, _unhandled)
    app.add_middleware(Utf8GuardMiddleware)
