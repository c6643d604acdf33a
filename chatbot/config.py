"""The chatbot's knobs (``app.settings.Settings.chat_config()`` builds them from the settings)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Chosen with bench/chat.py (see bench/README.md, "Chatbot"): the operating point on the curve.
DEFAULT_CONFIDENCE_THRESHOLD = 0.47


@dataclass(frozen=True)
class ChatConfig:
    """Thresholds and windows; the ``chat_*`` settings take their defaults from here."""

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

    def article_url(self, article_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/articles/{article_id}"
