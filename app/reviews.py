"""Who may review or retire an article: its owner, a member of its owning team, an admin.

The owning team follows the one rule of ``indexer.ownership.owning_team`` (the article's
``team``, else its owner's team, else its service's team). A person is in a team when
teams.yaml lists their email among its members, or their key names the team (``--team``).
"""

from __future__ import annotations

from app.people import Person, Role
from indexer.article import Article
from indexer.ownership import owning_team
from indexer.teams import TeamsConfig


def may_review(person: Person, article: Article, teams: TeamsConfig) -> bool:
    if person.role is Role.ADMIN:
        return True
    email = (person.email or "").lower()
    if email and article.owner and article.owner.lower() == email:
        return True
    team = owning_team(article, teams)
    candidates = {t for t in (team.id if team else None, article.team) if t}
    if candidates & person.teams:
        return True
    return bool(email) and team is not None and email in (m.lower() for m in team.members)
