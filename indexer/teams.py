"""``teams.yaml``: which team owns which service, who is in each team, where they are notified."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from indexer.article import LintIssue
from indexer.files import RefusedFile, SafeYamlLoader, read_regular

TEAMS_FILE = "teams.yaml"
MAX_TEAMS_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    channel: str | None = None
    email: str | None = None
    members: tuple[str, ...] = ()
    review_interval_days: int | None = None


@dataclass(frozen=True)
class TeamsConfig:
    teams: dict[str, Team] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)  # service -> team id
    default_team: str | None = None

    def team_of_member(self, email: str | None) -> Team | None:
        if not email:
            return None
        low = email.lower()
        return next((t for t in self.teams.values() if low in (m.lower() for m in t.members)), None)

    def team_for_services(self, services: tuple[str, ...]) -> Team | None:
        for service in services:
            team_id = self.services.get(service)
            if team_id and team_id in self.teams:
                return self.teams[team_id]
        return None

    @classmethod
    def load(cls, path: Path) -> tuple[TeamsConfig, list[LintIssue]]:
        """Read ``teams.yaml``; a missing file is an empty config, a broken one is reported."""
        if not path.is_file() and not path.is_symlink():
            return cls(), []
        rel = path.name
        try:
            text = read_regular(path, MAX_TEAMS_BYTES).decode("utf-8")
            data = yaml.load(text, Loader=SafeYamlLoader) or {}  # noqa: S506 (safe, no aliases)
        except RefusedFile as refused:
            return cls(), [LintIssue(rel, 1, refused.code, refused.message)]
        except OSError as exc:
            return cls(), [LintIssue(rel, 1, "unreadable", f"cannot read file: {exc.strerror}")]
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            return cls(), [LintIssue(rel, line, "bad-teams-file", f"cannot parse: {exc}")]
        return cls.from_dict(data, rel)

    @classmethod
    def from_dict(cls, data: Any, rel: str = TEAMS_FILE) -> tuple[TeamsConfig, list[LintIssue]]:
        issues: list[LintIssue] = []
        if not isinstance(data, dict):
            return cls(), [LintIssue(rel, 1, "bad-teams-file", "expected a mapping at the top")]
        teams: dict[str, Team] = {}
        for team_id, raw in (data.get("teams") or {}).items():
            if not isinstance(raw, dict):
                issues.append(LintIssue(rel, 1, "bad-teams-file", f"team {team_id!r} must be a mapping"))
                continue
            interval = raw.get("review_interval_days")
            teams[str(team_id)] = Team(
                id=str(team_id),
                name=str(raw.get("name") or team_id),
                channel=raw.get("channel"),
                email=raw.get("email"),
                members=tuple(str(m) for m in raw.get("members") or ()),
                review_interval_days=int(interval) if isinstance(interval, int) else None,
            )
        services = {str(k): str(v) for k, v in (data.get("services") or {}).items()}
        for service, team_id in services.items():
            if team_id not in teams:
                issues.append(LintIssue(rel, 1, "unknown-team",
                                        f"service {service!r} is owned by unknown team {team_id!r}"))
        default = data.get("default_team")
        if default is not None and str(default) not in teams:
            issues.append(LintIssue(rel, 1, "unknown-team", f"default_team {default!r} is not a team"))
        return cls(teams, services, str(default) if default else None), issues
