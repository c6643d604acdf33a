"""The one ownership rule: who owns an article and who reviews it, with a reason code.

Used by everything that names an owner or a team: the article page and JSON (``app``), lint,
the freshness job, its report and reminders, and the review permission (``app.reviews``).
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.article import Article
from indexer.teams import Team, TeamsConfig

UNASSIGNED = "unassigned"


def owning_team(article: Article, teams: TeamsConfig) -> Team | None:
    """The article's team: its `team`, else its owner's team, else its service's team."""
    if article.team and article.team in teams.teams:
        return teams.teams[article.team]
    return teams.team_of_member(article.owner) or teams.team_for_services(article.services)


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

    @property
    def team_id(self) -> str | None:
        return self.team.id if self.team is not None else None

    @property
    def unassigned(self) -> bool:
        return self.assignee == UNASSIGNED


def resolve(article: Article, teams: TeamsConfig) -> Assignment:
    """The reviewer: the owner while a member of some team, else the owning team.

    The owning team (``owning_team``: the article's `team`, else its owner's team, else the team
    of its service, then teams.yaml's ``default_team``) receives the summaries and, when there
    is no owner or the owner has left, the review."""
    team = owning_team(article, teams)
    if team is None and teams.default_team in teams.teams:
        team = teams.teams[teams.default_team]
    if article.owner and teams.team_of_member(article.owner) is not None:
        return Assignment(article.owner, "owner", team, person=True)
    why = "owner-left" if article.owner else "no-owner"
    if team is None:
        return Assignment(UNASSIGNED, f"{why}:unassigned", None, person=False)
    if article.team == team.id:
        how = "team"
    elif team.id == teams.default_team and teams.team_for_services(article.services) is None:
        how = "default-team"
    else:
        how = "team-of-service"
    return Assignment(team.id, f"{why}:{how}", team, person=False)
