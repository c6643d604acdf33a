"""What anonymous callers may see of people: names, never personal e-mail addresses.

Owners and assignees are stored as addresses (the article contract's ``owner`` is an email);
an anonymous caller gets the name part instead (``priya.raman@corp.example`` -> "Priya Raman"),
engineers get the address.

    >>> display_name("priya.raman@brightwater.example")
    'Priya Raman'
    >>> scrub({"owner": "tom.okafor@corp.example"})
    {'owner': 'Tom Okafor'}
"""

from __future__ import annotations

import re
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def display_name(value: str | None) -> str | None:
    """A person's name from an address: the local part, words capitalised (no domain)."""
    if value is None:
        return None
    return EMAIL.sub(_name, value)


def _name(match: re.Match[str]) -> str:
    local = match.group(0).split("@", 1)[0].split("+", 1)[0]
    words = [w for w in re.split(r"[._-]+", local) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or "(someone)"


def scrub(value: Any) -> Any:
    """``value`` (JSON: dicts, lists, strings) with every address replaced by its name; dict
    keys too (the report groups by assignee), counts of keys that meet are added up."""
    if isinstance(value, str):
        return display_name(value)
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = display_name(key) if isinstance(key, str) else key
            item = scrub(item)
            if name in out and isinstance(item, dict) and isinstance(out[name], dict):
                out[name] = {k: out[name].get(k, 0) + v for k, v in item.items()}
            else:
                out[name] = item
        return out
    return value
