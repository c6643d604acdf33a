"""Who reviews an article: its owner while in a team, else a team; each with a reason code."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.article import Article
from indexer.teams import Team, TeamsConfig

UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class Assignment:
    """``assignee`` is the owner's email or a team id; ``reason`` says why (stable codes).

    Reasons: ``owner``; otherwise ``<why>:<fallback>`` where why is ``no-owner`` or ``owner-left``
    and fallback is ``team`` (the article's `team`), ``team-of-service`` (teams.yaml services),
    ``default-team`` or ``unassigned`` (nothing configured).
    """

    assignee: str
    reason: str
    team: Team | None  # the team that receives the summary; the owner's team for ``owner``
    person: bool  # True: assignee is a person's email

    @property
    def email(self) -> str | None:
        if self.person:
            return self.assignee
        return self.team.email if self.team is not None else None


def resolve(article: Article, teams: TeamsConfig) -> Assignment:
    """Owner (if a member of some team) > article's team > team of its service > default team."""
    owner_team = teams.team_of_member(article.owner)
    if article.owner and owner_team is not None:
        return Assignment(article.owner, "owner", owner_team, person=True)
    why = "owner-left" if article.owner else "no-owner"
    if article.team and article.team in teams.teams:
        return Assignment(article.team, f"{why}:team", teams.teams[article.team], person=False)
    by_service = teams.team_for_services(article.services)
    if by_service is not None:
        return Assignment(by_service.id, f"{why}:team-of-service", by_service, person=False)
    if teams.default_team and teams.default_team in teams.teams:
        return Assignment(teams.default_team, f"{why}:default-team",
                          teams.teams[teams.default_team], person=False)
    return Assignment(UNASSIGNED, f"{why}:unassigned", None, person=False)
