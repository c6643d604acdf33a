"""Draft articles from incidents: the house template (``content/TEMPLATE.md``) prefilled from what
the incident record knows, written under ``content/drafts/``, where ``fieldguide lint`` checks it
(each section still to be written is a ``todo`` warning) and the indexer never serves it.

What is prefilled, and from where:
- ``title`` and the H1: the incident's title (the alert summary); ``symptoms``: that title and the
  searches made during the incident, those that look like an error message first (they are what
  people type); ``## Symptom``: the alert and the error messages seen;
- ``error_codes``: identifiers found in the title, the searches and the timeline's notes
  (``error_codes_in``); ``alerts``, ``services``: the incident's; ``team``: the incident's, else
  the team of its services; ``owner``: the responder, when that is an email address;
- ``created``: today, so the review-by date is created + the team's interval (the house rule);
- an author's HTML comment with the timeline and what was tried (runbooks posted and the
  diagnostic steps done, articles opened, searches and what they found), and ``## Related``
  links to the runbooks and articles opened.

    >>> made = write_incident_draft(incident, content_dir, teams=teams, today=dt.date.today())
    >>> made.path                       # content/drafts/<slug>.md, never an existing file
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from freshness.policy import PolicyConfig, interval_days
from incidents.records import Activity, Incident
from indexer.article import Article
from indexer.content import DRAFTS_DIR, markdown_files
from indexer.normalize import normalize_query, query_shape
from indexer.ownership import owning_team
from indexer.teams import TeamsConfig

MAX_SLUG = 60
MAX_SYMPTOMS = 4  # the template asks for 2-4
MAX_LISTED = 50  # timeline lines, searches, articles in the author's comment
MAX_TEXT = 300
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_NOT_PEOPLE = frozenset({"alertmanager", "intake", "pagerduty", "cli", "api"})
# Identifiers as the house writes them in ``error_codes`` (see content/): hex codes, vendor codes
# (AADSTS50126, E0000004, GP-0403, ORA-12154), SNAKE_CASE errors, exception class names,
# Kubernetes and DNS states, errno names, SMTP replies; HTTP statuses become "HTTP 502".
_CODES = re.compile(
    r"\b0x[0-9A-Fa-f]{4,}\b"
    r"|\b[A-Z]{1,10}\d{4,}\b"
    r"|\b[A-Z]{2,10}-\d{2,6}\b"
    r"|\b(?:NET::)?[A-Z][A-Z0-9]+(?:_[A-Z0-9]+){1,6}\b"
    r"|\b(?:[a-z][a-z0-9]*\.)*[A-Z][A-Za-z0-9]+(?:Exception|Error)\b"
    r"|\b(?:CrashLoopBackOff|ImagePullBackOff|ErrImagePull|OOMKilled|CreateContainerConfigError"
    r"|ProgressDeadlineExceeded|NXDOMAIN|SERVFAIL)\b"
    r"|\bE(?:CONNREFUSED|CONNRESET|TIMEDOUT|NOSPC|ACCES|ADDRINUSE|HOSTUNREACH|NETUNREACH|NOENT"
    r"|PIPE|MFILE|AI_NONAME|AI_AGAIN)\b"
    r"|\b[45]\d\d [245]\.\d\.\d{1,3}\b"
)
_HTTP = re.compile(
    r"\bHTTP(?:/\d(?:\.\d)?)?[ :]*([45]\d\d)\b"
    r"|\b([45]\d\d)s?\s+(?:Bad Gateway|Gateway Time-?out|Service Unavailable|Internal Server Error"
    r"|Too Many Requests|Not Found|Forbidden|Unauthorized|Bad Request)\b"
    r"|\b(?:returns?|returning|returned|status|code|got|throwing)\s+([45]\d\d)s?\b"
    r"|\b([45]\d\d)s\b", re.I)
_TODO = {
    "likely_causes": "TODO: what caused incident {id}, and what else causes the same symptom: "
                     "a numbered list (1. 2. 3.), the most probable cause first.",
    "diagnostic_steps": "TODO: the checks that tell those causes apart, as a numbered list: "
                        "commands or dashboards, and which result points to which cause (the "
                        "steps done during the incident are in the comment above).",
    "resolution": "TODO: the fix that resolved incident {id}, numbered steps someone else can "
                  "follow without help.",
    "escalation_criteria": "TODO: when to stop and escalate, to whom (team and channel), at "
                           "what priority, and what to include.",
}


class DraftError(ValueError):
    """A draft that cannot be written (no content directory, a ``drafts`` that is no folder);
    ``code`` is an ``app.errors`` code."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WrittenDraft:
    path: Path  # the file, under content_dir / drafts
    rel: str  # relative to the content directory, '/' separators: drafts/<slug>.md
    slug: str  # the file's stem and the article's id
    text: str


# -- evidence ---------------------------------------------------------------------------------
def error_codes_in(texts: Iterable[str]) -> tuple[str, ...]:
    """The error identifiers in ``texts``, first seen first, each once (pasted log noise such
    as timestamps and request ids is stripped first)."""
    found: dict[str, None] = {}
    for text in texts:
        clean = normalize_query(text)
        hits: list[tuple[int, str]] = [(m.start(), m.group()) for m in _CODES.finditer(clean)]
        hits += [(m.start(), f"HTTP {next(g for g in m.groups() if g)}")
                 for m in _HTTP.finditer(clean)]
        for _pos, code in sorted(hits):
            found.setdefault(code)
    return tuple(found)


def _one_line(text: str, limit: int = MAX_TEXT) -> str:
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def looks_like_error(text: str) -> bool:
    normalized = normalize_query(text)
    return bool(error_codes_in([text])) or query_shape(text, normalized).identifiers > 0


def symptoms_of(incident: Incident) -> tuple[str, ...]:
    """The alert summary, then the searches (error messages first), each once, at most 4."""
    searches = [_one_line(normalize_query(q) or q, 120) for q in incident.searches()]
    ordered = [_one_line(incident.title, 500), *[q for q in searches if looks_like_error(q)],
               *[q for q in searches if not looks_like_error(q)]]
    out: dict[str, str] = {}
    for s in ordered:
        if s and s.lower() not in out:
            out[s.lower()] = s
    return tuple(out.values())[:MAX_SYMPTOMS]


def owner_of(incident: Incident) -> str | None:
    """The responder when it is an email address, else the first person in the timeline who
    acknowledged, diagnosed or resolved it with one."""
    people = [incident.responder, *(t.by for t in incident.timeline
                                    if t.kind in ("acknowledged", "diagnosed", "resolved"))]
    for who in people:
        if who and who.lower() not in _NOT_PEOPLE and _EMAIL.fullmatch(who.strip()):
            return who.strip()
    return None


def slug_for(incident: Incident) -> str:
    """Lowercase words joined by hyphens (CamelCase alert names split), at most 60 characters;
    ``incident-<id>`` when the title has no letter or digit. Never a path."""
    camel = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", incident.title)
    ascii_ = unicodedata.normalize("NFKD", camel).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    if len(slug) > MAX_SLUG:
        slug = slug[:MAX_SLUG].rsplit("-", 1)[0] if "-" in slug[:MAX_SLUG] else slug[:MAX_SLUG]
    return slug.strip("-") or f"incident-{incident.id}"


# -- the text ----------------------------------------------------------------------------------
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._@/()+-]*(?: [A-Za-z0-9._@/()+-]+)*")
_YAML_WORDS = frozenset({"yes", "no", "true", "false", "on", "off", "null", "y", "n", "~"})


def _scalar(value: str) -> str:
    """A YAML scalar: plain when it cannot be read as anything else, else double-quoted."""
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar; ASCII escapes


def _flow(values: Iterable[str]) -> str:
    return "[" + ", ".join(_scalar(v) for v in values) + "]"


def _md(text: str) -> str:
    """Text as Markdown that reads as written: markup characters backslash-escaped."""
    return re.sub(r"([\\`*_\[\]<>|~&#!])", r"\\\1", _one_line(text))


def _code(ident: str) -> str:
    return f"`{ident}`" if "`" not in ident else _md(ident)


def _comment(text: str) -> str:
    """Safe inside ``<!-- -->``: no ``--`` (which would end or break the comment)."""
    while "--" in text:
        text = text.replace("--", "- -")
    return text


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _more(items: list[str], total: int) -> list[str]:
    return items + ([f"- ... and {total - len(items)} more"] if total > len(items) else [])


def _author_comment(incident: Incident, article_of: Callable[[str], Article | None],
                    review: str, today: dt.date) -> str:
    i = incident
    lines = [f"Draft from incident {i.id} (fieldguide incidents draft, {today.isoformat()}). For "
             "the author, not for readers:", "fill in the sections that say TODO, check the "
             "Symptom and the front matter, delete this comment,", "then move the file out of "
             "drafts/ (e.g. to engineering/) to publish it; `fieldguide lint` lists what is left.",
             "", f"Incident {i.id}: {_one_line(i.title)} ({i.severity.value}, {i.status.value}); "
             f"source {i.source}" + (f" {_one_line(i.external_id, 80)}" if i.external_id else ""),
             "Services: " + (", ".join(i.services) or "-") + ". Alerts: "
             + (", ".join(i.alerts) or "-") + ". Team: " + (i.team or "-")
             + (f" ({i.channel})" if i.channel else "") + ".",
             "Responder: " + (_one_line(i.responder, 120) if i.responder else "-"), "",
             "Timeline (UTC):"]
    timeline = []
    for t in i.timeline[:MAX_LISTED]:
        line = f"- {_when(t.at)} {t.kind}" + (f" by {_one_line(t.by, 120)}" if t.by else "")
        if t.value and t.kind in ("triggered", "severity", "responder", "retrospective"):
            line += f": {_one_line(t.value, 120)}"
        if t.note:
            line += f": {_one_line(t.note)}"
        timeline.append(line)
    lines += _more(timeline, len(i.timeline)) or ["- (nothing recorded)"]
    lines += ["", "What was tried:"]
    steps: dict[str, list[int]] = {}
    for a in i.activity:
        if a.kind is Activity.STEP and isinstance(a.detail.get("step"), int):
            steps.setdefault(a.ref, []).append(int(a.detail["step"]))
    freshness = {a.ref: a.detail.get("freshness") for a in i.activity
                 if a.kind is Activity.RUNBOOK}
    for rb in i.runbooks():
        done = sorted(set(steps.get(rb, [])))
        lines.append(f"- Runbook posted: {rb}" + (f" (freshness {freshness[rb]})"
                                                 if freshness.get(rb) else "")
                     + "; diagnostic steps done: " + (", ".join(map(str, done)) or "none"))
    for ref, done in steps.items():
        if ref not in i.runbooks():
            lines.append(f"- Diagnostic steps done in {ref}: "
                         + ", ".join(map(str, sorted(set(done)))))
    opened = i.articles_opened()
    for article_id in opened[:MAX_LISTED]:
        article = article_of(article_id)
        lines.append(f"- Article opened: {article_id}"
                     + (f" ({_one_line(article.title, 120)})" if article else ""))
    if len(opened) > MAX_LISTED:
        lines.append(f"- ... and {len(opened) - MAX_LISTED} more articles opened")
    searches = [a for a in i.activity if a.kind is Activity.SEARCH]
    for a in searches[:MAX_LISTED]:
        results = [str(r) for r in a.detail.get("results", [])][:3]
        lines.append(f'- Searched "{_one_line(a.ref, 200)}" at {_when(a.at)}: '
                     + (", ".join(results) if results else "nothing found"))
    if len(searches) > MAX_LISTED:
        lines.append(f"- ... and {len(searches) - MAX_LISTED} more searches")
    if len(lines) and lines[-1] == "What was tried:":
        lines.append("- nothing recorded (no runbook posted, no search or article view carried "
                     f"incident={i.id})")
    lines += ["", review]
    return "<!--\n" + _comment("\n".join(lines)) + "\n-->"


def compose_draft(incident: Incident, slug: str, *, teams: TeamsConfig, today: dt.date,
                  policy: PolicyConfig | None = None,
                  article_of: Callable[[str], Article | None] = lambda _id: None) -> str:
    """The draft's Markdown for ``slug`` (its id and file stem). Pure: no I/O."""
    i = incident
    title = _one_line(i.title, 500)
    team = teams.teams.get(i.team) if i.team else None
    team = team or teams.team_for_services(i.services)
    owner = owner_of(i)
    notes = [t.note for t in i.timeline if t.note]
    codes = error_codes_in([i.title, *i.searches(), *notes])
    symptoms = symptoms_of(i)
    stub = Article(id=slug, path=f"{DRAFTS_DIR}/{slug}.md", title=title, body="", body_line=1,
                   sections=(), services=i.services, owner=owner,
                   team=team.id if team else None, created=today)
    days = interval_days(stub, teams, policy or PolicyConfig())
    whose = owning_team(stub, teams)
    review = (f"Review by {(today + dt.timedelta(days=days)).isoformat()}: created + {days} days "
              + (f"(team {whose.id}'s interval)" if whose and whose.review_interval_days
                 else "(the default interval)")
              + "; set `created` to the day you publish it.")
    if owner is None:
        review += (" No owner: the responder " + (f"({_one_line(i.responder, 120)}) "
                                                  if i.responder else "")
                   + "has no email address recorded; set `owner`.")
    front = ["---", f"id: {slug}", f"title: {_scalar(title)}", "symptoms:",
             *[f"  - {_scalar(s)}" for s in symptoms], f"error_codes: {_flow(codes)}",
             f"alerts: {_flow(i.alerts)}", f"services: {_flow(i.services)}", "tags: []",
             "audience: [engineer]"]
    if owner:
        front.append(f"owner: {_scalar(owner)}")
    if team:
        front.append(f"team: {_scalar(team.id)}")
    front += [f"created: {today.isoformat()}", "---"]

    where = f" on {', '.join(_code(s) for s in i.services)}" if i.services else ""
    alerts = (f"The alert {', '.join(_code(a) for a in i.alerts)} fired" if i.alerts
              else "The incident was opened")
    symptom = [f"{alerts}{where}: \"{_md(title)}\" (incident {i.id}, {i.severity.value}).", ""]
    seen = [q for q in i.searches() if looks_like_error(q)]
    if codes or seen:
        symptom += ["Error messages seen during the incident:", ""]
        symptom += [f"- {_code(c)}" for c in codes]
        symptom += [f"- \"{_md(normalize_query(q) or q)}\"" for q in dict.fromkeys(seen)][:10]
        symptom.append("")
    body = [f"# {_md(title)}", "", _author_comment(i, article_of, review, today), "",
            "## Symptom", "", *symptom]
    for key, heading in (("likely_causes", "Likely causes"),
                         ("diagnostic_steps", "Diagnostic steps"), ("resolution", "Resolution"),
                         ("escalation_criteria", "Escalation criteria")):
        body += [f"## {heading}", "", _TODO[key].format(id=i.id), ""]
    related = []
    for article_id in dict.fromkeys([*i.runbooks(), *i.articles_opened()]):
        article = article_of(article_id)
        if article is not None:
            # From drafts/ and from any folder one level down, ../<path> is the same file.
            related.append(f"- [{_md(article.title)}](../{article.path})")
    if related:
        body += ["## Related", "", *related[:MAX_LISTED], ""]
    return "\n".join(front + body).rstrip("\n") + "\n"


# -- the file ------------------------------------------------------------------------------------
def drafts_dir(content_dir: Path) -> Path:
    """``content_dir/drafts``, created when missing; refused when it is a symbolic link or not
    a folder (a draft is never written outside the content directory)."""
    if not content_dir.is_dir():
        raise DraftError(f"content directory {content_dir} does not exist", "conflict")
    drafts = content_dir / DRAFTS_DIR
    if drafts.is_symlink():
        raise DraftError(f"{drafts} is a symbolic link: drafts are written only into a real "
                         "folder inside the content directory")
    if drafts.exists() and not drafts.is_dir():
        raise DraftError(f"{drafts} is not a folder")
    drafts.mkdir(exist_ok=True)
    return drafts


def write_draft(content_dir: Path, slug: str, text_for: Callable[[str], str],
                taken: Iterable[str] = ()) -> WrittenDraft:
    """Write ``text_for(name)`` to ``drafts/<name>.md``, ``name`` the slug or, when that file or
    an article id in ``taken`` exists already, ``slug-2``, ``slug-3``... An existing file is never
    overwritten: the file is created exclusively (``O_EXCL``), so two writers never collide."""
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
        raise DraftError(f"not a slug: {slug!r}", "validation_error")
    drafts = drafts_dir(content_dir)
    stems = {p.stem for p in markdown_files(content_dir)} | set(taken)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for n in range(1, 1000):
        name = slug if n == 1 else f"{slug}-{n}"
        if name in stems:
            continue
        path = drafts / f"{name}.md"
        text = text_for(name)
        try:
            fd = os.open(path, flags, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        return WrittenDraft(path, f"{DRAFTS_DIR}/{name}.md", name, text)
    raise DraftError(f"{drafts}: {slug}.md and its 998 suffixes all exist")


def write_incident_draft(incident: Incident, content_dir: Path, *, teams: TeamsConfig,
                         today: dt.date, policy: PolicyConfig | None = None,
                         article_of: Callable[[str], Article | None] = lambda _id: None,
                         taken: Iterable[str] = ()) -> WrittenDraft:
    """The incident's draft, composed and written (see the module docstring)."""
    return write_draft(content_dir, slug_for(incident), lambda name: compose_draft(
        incident, name, teams=teams, today=today, policy=policy, article_of=article_of), taken)
