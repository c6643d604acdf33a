"""Read a Markdown file into an ``Article``: decode, split front matter, split sections by heading.

Parsing never raises on bad content: problems come back as ``LintIssue`` values and a file that
cannot be read at all yields ``None`` (the indexer reports it and moves on).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from indexer.article import (
    BUILTIN_AUDIENCES,
    TEMPLATE_SECTIONS,
    Article,
    Audience,
    Link,
    LintIssue,
    Section,
    Severity,
)
from indexer.files import RefusedFile, SafeYamlLoader, read_regular
from indexer.normalize import inline_plain

MAX_ARTICLE_BYTES = 2 * 1024 * 1024
# Front matter is metadata: a few hundred bytes in practice.
MAX_FRONT_MATTER_BYTES = 64 * 1024

FIELDGUIDE_KEYS = frozenset(
    {"symptoms", "error_codes", "alerts", "services", "owner", "team", "last_reviewed",
     "review_interval_days"}
)
_LIST_KEYS = ("symptoms", "error_codes", "alerts", "services", "tags")
_HEADING_TO_KEY = {v.lower(): k for k, v in TEMPLATE_SECTIONS.items()}
_FM_YAML = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*$\r?\n?", re.S | re.M)
_FM_TOML = re.compile(r"\A\+\+\+[ \t]*\r?\n(.*?)^\+\+\+[ \t]*$\r?\n?", re.S | re.M)
_MD = MarkdownIt("commonmark").enable("table")


class _FrontMatterLoader(SafeYamlLoader):
    """Safe YAML that leaves dates as text: ``_date`` validates them and reports bad ones."""


_FrontMatterLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


@dataclass(frozen=True)
class ParseResult:
    article: Article | None
    issues: tuple[LintIssue, ...]
    draft: bool = False


def article_id_for(path: str) -> str:
    return path[:-3] if path.endswith(".md") else path


def decode(raw: bytes) -> str | None:
    """Decode bytes as UTF-8 (with or without BOM), UTF-16 with BOM, or a detected legacy charset."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in raw:
        return None
    from charset_normalizer import from_bytes

    matches = from_bytes(raw)
    best = matches.best()
    if best is None or best.chaos > 0.3:
        return None
    # Short texts fit several code pages equally well; Windows-1252 is the likeliest for a wiki.
    western = next((m for m in matches if m.encoding == "cp1252"), None)
    if western is not None and western.chaos <= best.chaos:
        return str(western)
    return str(best)


def _looks_binary(text: str) -> bool:
    sample = text[:8192]
    if "\x00" in sample:
        return True
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\n\r\t\f\v")
    return controls > max(8, len(sample) // 100)


def parse_file(path: Path, root: Path, max_bytes: int = MAX_ARTICLE_BYTES,
               audiences: Collection[Audience] = BUILTIN_AUDIENCES) -> ParseResult:
    rel = path.relative_to(root).as_posix()
    try:
        raw = read_regular(path, max_bytes)
    except RefusedFile as refused:
        return _fatal(rel, 1, refused.code, refused.message)
    except OSError as exc:
        return _fatal(rel, 1, "unreadable", f"cannot read file: {exc.strerror or exc}")
    text = decode(raw)
    if text is not None and not text.strip():
        return _fatal(rel, 1, "empty", "the file is empty")
    if text is None or _looks_binary(text):
        return _fatal(rel, 1, "not-text", "file is binary or in an unknown encoding")
    return parse_text(text, rel, content_hash=hashlib.sha256(raw).hexdigest(),
                      audiences=audiences)


def parse_text(text: str, rel: str, content_hash: str = "",
               audiences: Collection[Audience] = BUILTIN_AUDIENCES) -> ParseResult:
    """``audiences``: the vocabulary an article's ``audience`` must come from
    (``FIELDGUIDE_AUDIENCES``)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    issues: list[LintIssue] = []
    meta: dict[str, Any] = {}
    body, offset = text, 0
    m = _FM_YAML.match(text) or _FM_TOML.match(text)
    if m:
        block = m.group(1)
        offset = text[: m.end()].count("\n")
        body = text[m.end():]
        if len(block.encode()) > MAX_FRONT_MATTER_BYTES:
            return _fatal(rel, 2, "bad-front-matter", f"front matter is longer than "
                          f"{MAX_FRONT_MATTER_BYTES // 1024} KiB; keep it to metadata")
        try:
            loaded = (tomllib.loads(block) if text.startswith("+++")
                      else yaml.load(block, Loader=_FrontMatterLoader))  # noqa: S506
        except (yaml.YAMLError, tomllib.TOMLDecodeError, ValueError, TypeError) as exc:
            line = 2
            # Where the broken construct starts (an unclosed bracket) beats where YAML gave up.
            mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
            if mark is not None:
                line = mark.line + 2
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            return _fatal(rel, line, "bad-front-matter", f"front matter is not valid: {reason}")
        if isinstance(loaded, dict):
            meta = {str(k): v for k, v in loaded.items()}
        elif loaded is not None:
            # A leading '---' rule followed by prose, not front matter: keep it as body text.
            body, offset = text, 0
    if meta.get("draft") is True:
        return ParseResult(None, (), draft=True)
    if content_hash == "":
        content_hash = hashlib.sha256(text.encode()).hexdigest()

    tokens = _MD.parse(body)
    sections = _sections(body, tokens, offset)
    title = _as_text(meta.get("title"))
    if not title:
        h1 = next((s for s in sections if s.level == 1 and s.heading), None)
        title = h1.heading if h1 else ""
    if not title:
        if m or not body.strip():
            return _fatal(rel, 1, "no-title",
                          "no title: add `title:` to the front matter or a `# heading`", issues)
        # Imported wiki pages without any title: name them after their file.
        title = _title_from_path(rel)
        issues.append(LintIssue(rel, 1, "title-from-filename",
                                f"no title; using {title!r} from the file name", Severity.WARNING))

    def field_line(key: str) -> int:
        pat = re.compile(rf"^{re.escape(key)}\s*[:=]", re.M)
        fm = text[: m.end()] if m else ""
        hit = pat.search(fm)
        return fm.count("\n", 0, hit.start()) + 1 if hit else 1

    lists: dict[str, tuple[str, ...]] = {}
    for key in _LIST_KEYS:
        value = meta.get(key)
        items = _as_list(value)
        if value is not None and items is None:
            issues.append(LintIssue(rel, field_line(key), "bad-field",
                                    f"`{key}` must be a list of strings"))
            items = ()
        lists[key] = items or ()

    audience, declared = _audience(meta.get("audience"), rel, field_line("audience"), issues,
                                   audiences)
    dates: dict[str, dt.date | None] = {}
    for key in ("created", "last_reviewed"):
        dates[key] = _date(meta.get(key), key, rel, field_line(key), issues)
    interval = meta.get("review_interval_days")
    interval_days: int | None = None
    if interval is not None:
        if isinstance(interval, int) and not isinstance(interval, bool) and interval > 0:
            interval_days = interval
        else:
            issues.append(LintIssue(rel, field_line("review_interval_days"), "bad-field",
                                    "`review_interval_days` must be a positive whole number of days"))
    templated = bool(FIELDGUIDE_KEYS & meta.keys()) or any(s.key for s in sections)
    known = {"id", "title", "audience", "created", "draft", *(_LIST_KEYS), *FIELDGUIDE_KEYS}
    article = Article(
        id=_as_text(meta.get("id")) or article_id_for(rel),
        path=rel,
        title=_clean_inline(title),
        body=body,
        body_line=offset + 1,
        sections=tuple(sections),
        symptoms=lists["symptoms"],
        error_codes=lists["error_codes"],
        alerts=lists["alerts"],
        services=lists["services"],
        tags=lists["tags"],
        audience=audience,
        audience_declared=declared,
        owner=_as_text(meta.get("owner")) or None,
        team=_as_text(meta.get("team")) or None,
        created=dates["created"],
        last_reviewed=dates["last_reviewed"],
        review_interval_days=interval_days,
        templated=templated,
        links=_links(tokens, offset),
        content_hash=content_hash,
        extra={k: v for k, v in meta.items() if k not in known},
    )
    return ParseResult(article, tuple(issues))


def _title_from_path(rel: str) -> str:
    parts = rel.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    if stem.lower() in {"readme", "index", "_index"} and len(parts) > 1:
        stem = parts[-2]
    words = re.sub(r"[-_]+", " ", stem).strip()
    return words[:1].upper() + words[1:]


def _fatal(rel: str, line: int, code: str, message: str,
           issues: Iterable[LintIssue] = ()) -> ParseResult:
    return ParseResult(None, (*issues, LintIssue(rel, line, code, message, Severity.ERROR)))


def _as_text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def _as_list(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return None


def _audience(value: Any, rel: str, line: int, issues: list[LintIssue],
              vocabulary: Collection[Audience]) -> tuple[tuple[Audience, ...], bool]:
    names = _as_list(value)
    # The built-in vocabulary keeps DESIGN.md's rule: an unknown audience is a warning and the
    # configured default applies. Once an organisation adds audiences (security), an unknown
    # one may be a mistyped added one, which the default would widen: an error, left out.
    severity = Severity.WARNING if set(vocabulary) <= set(BUILTIN_AUDIENCES) else Severity.ERROR
    if names is None:
        issues.append(LintIssue(rel, line, "unknown-audience", "`audience` must be a list of "
                                f"names (allowed: {', '.join(a.value for a in vocabulary)})",
                                severity))
        names = ("",)
    found: list[Audience] = []
    for name in names:
        try:
            found.append(Audience.parse(name, vocabulary))
        except ValueError as exc:
            issues.append(LintIssue(rel, line, "unknown-audience", str(exc), severity))
    if found:
        return tuple(dict.fromkeys(found)), True
    # None declared: the configured default applies (scan_content). Only unknown ones: the
    # default too with the built-in vocabulary; with added audiences, declared but empty, and
    # scan_content leaves the article out of the index.
    return (), bool(names) and severity is Severity.ERROR


def _date(value: Any, key: str, rel: str, line: int, issues: list[LintIssue]) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        issues.append(LintIssue(rel, line, "bad-date",
                                f"`{key}` is {value!r}, expected an ISO date like 2026-01-31"))
        return None


def _clean_inline(text: str) -> str:
    return inline_plain(text)  # emphasis and code marks go, identifiers stay (issue 12)


def _sections(body: str, tokens: list[Token], offset: int) -> list[Section]:
    lines = body.split("\n")
    heads: list[tuple[int, int, int, str]] = []  # (start line, end line, level, text)
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map and int(tok.tag[1]) <= 2:
            heads.append((tok.map[0], tok.map[1], int(tok.tag[1]), tokens[i + 1].content))
    out: list[Section] = []
    bounds = [h[0] for h in heads] + [len(lines)]
    lead = "\n".join(lines[: bounds[0]]).strip()
    if lead:
        out.append(Section("", 0, lead, 0, None, *_list_items(tokens, 0, bounds[0])))
    for n, (start, end, level, heading) in enumerate(heads):
        stop = bounds[n + 1]
        text = "\n".join(lines[end:stop]).strip()
        clean = _clean_inline(heading)
        key = _HEADING_TO_KEY.get(clean.lower()) if level == 2 else None
        items, ordered = _list_items(tokens, end, stop)
        out.append(Section(clean, level, text, start + 1 + offset, key, items, ordered))
    return out


def _list_items(tokens: list[Token], start: int, stop: int) -> tuple[tuple[str, ...], bool]:
    """Top-level list items in body lines [start, stop): the first list's items and its kind."""
    items: list[str] = []
    ordered: bool | None = None
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.map is None and depth == 0:
            continue
        if depth == 0 and tok.map is not None and not (start <= tok.map[0] < stop):
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            if depth == 0:
                if ordered is not None:
                    break
                ordered = tok.type == "ordered_list_open"
            depth += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif tok.type == "inline" and depth == 1 and tokens[i - 2].type == "list_item_open":
            items.append(_clean_inline(tok.content.split("\n")[0]))
    return tuple(items), bool(ordered)


def iter_links(article: Article) -> Iterable[tuple[str, int]]:
    """Link targets in the body with their 1-based file line."""
    return ((link.target, link.line) for link in article.links)


def _links(tokens: list[Token], offset: int) -> tuple[Link, ...]:
    out = []
    for tok in tokens:
        if tok.type != "inline" or not tok.children:
            continue
        for child in tok.children:
            if child.type == "link_open":
                line = (tok.map[0] if tok.map else 0) + 1 + offset
                out.append(Link(str(child.attrs.get("href", "")), line))
    return tuple(out)
