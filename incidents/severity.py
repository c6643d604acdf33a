"""Incident severities P1-P4 and the configurable mapping from what tools send (PagerDuty urgency
and priority names, an alert's ``severity`` label) onto them; MTTR targets per severity.

    >>> mapping = SeverityMap.parse("critical=P1,warning=P3")
    >>> mapping.of("Critical"), mapping.of("SEV-9")
    (<Severity.P1: 'P1'>, None)
    >>> targets = parse_targets("P1=1h,P2=4h,P3=2bd")
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @classmethod
    def parse(cls, value: object) -> Severity:
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {value!r} (allowed: {allowed})") from None

    @property
    def rank(self) -> int:
        return int(self.value[1])


# PagerDuty's priorities are named P1..P5 by default; its urgencies are high and low; Prometheus
# rules conventionally label critical / warning / info.
DEFAULT_SEVERITY_MAP = ("p1=P1,p2=P2,p3=P3,p4=P4,p5=P4,sev1=P1,sev2=P2,sev3=P3,sev4=P4,"
                        "critical=P1,high=P2,error=P2,major=P2,warning=P3,minor=P3,low=P3,"
                        "info=P4,none=P4")
DEFAULT_TARGETS = "P1=1h,P2=4h,P3=2bd"
_UNIT = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d|bd)$")


def _key(value: str) -> str:
    return re.sub(r"[\s_-]+", "", value.strip().lower())


@dataclass(frozen=True)
class SeverityMap:
    """Names (case, spaces, ``-`` and ``_`` ignored) to severities; a name not listed is None."""

    names: dict[str, Severity] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SeverityMap:
        names: dict[str, Severity] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            name, sep, sev = part.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"severity_map: {part.strip()!r} is not NAME=P1..P4")
            names[_key(name)] = Severity.parse(sev)
        return cls(names)

    def of(self, *values: str | None) -> Severity | None:
        """The first of ``values`` (priority before urgency, say) the map knows."""
        for value in values:
            if value and _key(value) in self.names:
                return self.names[_key(value)]
        return None


@dataclass(frozen=True)
class Target:
    """A time to resolve: wall-clock seconds, or business days (Monday to Friday)."""

    seconds: float | None = None
    business_days: int | None = None

    def label(self) -> str:
        if self.business_days is not None:
            return f"{self.business_days} business days"
        assert self.seconds is not None
        hours = self.seconds / 3600
        return f"{hours:g} h" if hours >= 1 else f"{self.seconds / 60:g} min"


def parse_targets(text: str) -> dict[Severity, Target]:
    """``P1=1h,P2=4h,P3=2bd`` (units s, m, h, d, bd = business days); a severity left out has
    no target."""
    out: dict[Severity, Target] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        sev, sep, amount = part.partition("=")
        match = _UNIT.match(amount.strip().lower())
        if not sep or match is None:
            raise ValueError(f"mttr_targets: {part.strip()!r} is not P1..P4=<number><s|m|h|d|bd>")
        number, unit = float(match.group(1)), match.group(2)
        if unit == "bd":
            out[Severity.parse(sev)] = Target(business_days=int(number))
        else:
            scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
            out[Severity.parse(sev)] = Target(seconds=number * scale)
    return out
