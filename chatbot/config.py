"""The chatbot's knobs, gathered from the application settings (duck-typed: no import of app/)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

# Chosen with bench/chat.py (see bench/README.md, "Chatbot"): the operating point on the curve.
DEFAULT_CONFIDENCE_THRESHOLD = 0.47


@dataclass(frozen=True)
class ChatConfig:
    """Thresholds and windows; ``from_settings`` maps the ``chat_*`` settings onto it."""

    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    clarify_margin: float = 0.02  # top answers closer than this may be ambiguous...
    clarify_distinct: float = 0.4  # ...when their heads are less similar than this
    intent_threshold: float = 0.70
    intent_fuzzy_threshold: float = 82.0
    candidates: int = 10
    max_answer_chars: int = 900
    max_message_chars: int = 4000
    potential_window: dt.timedelta = dt.timedelta(hours=24)
    idle_timeout: dt.timedelta = dt.timedelta(minutes=30)
    public_url: str = "http://localhost:8000"

    @classmethod
    def from_settings(cls, settings: Any) -> ChatConfig:
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.name if f.name == "public_url" else f"chat_{f.name}"
            value = getattr(settings, name, None)
            if value is None:
                continue
            if f.name == "potential_window":
                value = dt.timedelta(hours=float(value))
            elif f.name == "idle_timeout":
                value = dt.timedelta(minutes=float(value))
            values[f.name] = value
        return cls(**values)

    def article_url(self, article_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/articles/{article_id}"
