"""Types for JSON bodies that accept what their JSON Schema says, and nothing pydantic's lax
mode would coerce besides: an integer is a JSON number with no fraction (``10`` or ``10.0``),
never ``true``; a time is an RFC 3339 string, never a bare number read as a Unix time."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BeforeValidator


def _no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer, not a boolean")
    return value


def _text_only(value: object) -> object:
    if not isinstance(value, (str, dt.datetime)):
        raise ValueError("Input should be an RFC 3339 date-time string")
    return value


JsonInt = Annotated[int, BeforeValidator(_no_bool)]
JsonDateTime = Annotated[dt.datetime, BeforeValidator(_text_only)]
