"""``POST /api/events/click``: which search result was opened."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.access import CallerDep
from app.deps import EventsDep, IndexDep
from app.errors import ApiError
from app.models import ClickEventRow, utcnow
from app.schemas import ClickPublic

router = APIRouter(tags=["events"])


class ClickCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    article_id: str = Field(min_length=1, max_length=512, description="The result opened.")
    search_id: str | None = Field(None, max_length=32,
                                  description="`search_id` from the /api/search response.")
    rank: int | None = Field(None, ge=1, le=1000, description="1-based position in the results.")
    query: str | None = Field(None, max_length=8192)


@router.post("/api/events/click", status_code=202, response_model=ClickPublic)
def click(body: ClickCreate, caller: CallerDep, holder: IndexDep, events: EventsDep
          ) -> dict[str, Any]:
    if holder.searcher.article(body.article_id, caller.audiences) is None:
        raise ApiError("not_found", f"no article {body.article_id!r}")
    events.put(ClickEventRow, at=utcnow(), search_id=body.search_id, article_id=body.article_id,
               rank=body.rank, query=body.query)
    return {"recorded": True}
