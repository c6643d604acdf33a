"""Request and response models of ``POST /api/incidents/{id}/draft`` (the draft article)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

# Branch names the API takes: slash-separated words, always a valid Git branch name (the CLI's
# --branch takes anything `git check-ref-format --branch` accepts).
BRANCH_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_-]*(?:/[A-Za-z0-9_][A-Za-z0-9_-]*)*$"


class IncidentDraftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    branch: StrictBool = Field(False, description="Also commit the draft on a new Git branch "
                               "(the content directory must be in a Git work tree; no push).")
    branch_name: StrictStr | None = Field(None, max_length=200, pattern=BRANCH_NAME,
                                          description="The new branch (implies branch; default "
                                          "kb-draft/incident-<id>-<slug>).")
    by: StrictStr | None = Field(None, max_length=320, description="Who writes it (default: "
                                 "the caller).")


class IncidentDraftPublic(BaseModel):
    """The draft written: never served until moved out of drafts/."""

    path: str = Field(description="Relative to the content directory: drafts/<slug>.md.")
    id: str = Field(description="The draft's article id (its file name without .md).")
    text: str = Field(description="The Markdown written.")
    branch: str | None = Field(description="The branch it was committed on, if asked.")
    commit: str | None = Field(description="That commit's hash.")
