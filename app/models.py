"""The service's own tables: search events and click events (declared on ``indexer.db.Base``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from indexer.db import Base, utcnow


class SearchEventRow(Base):
    """One ``/api/search`` call, written after the response was sent."""

    __tablename__ = "search_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    query: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(Text)
    result_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    total: Mapped[int] = mapped_column(Integer, default=0)
    took_ms: Mapped[float] = mapped_column(Float)
    zero_results: Mapped[bool] = mapped_column(Boolean, default=False)
    audience: Mapped[str] = mapped_column(String(32))  # "anonymous" or "engineer"
    offset: Mapped[int] = mapped_column(Integer, default=0)


class ClickEventRow(Base):
    """A result opened from a search (``POST /api/events/click``)."""

    __tablename__ = "click_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    search_id: Mapped[str | None] = mapped_column(String(32), index=True)
    article_id: Mapped[str] = mapped_column(String(512))
    rank: Mapped[int | None] = mapped_column(Integer)
    query: Mapped[str | None] = mapped_column(Text)
