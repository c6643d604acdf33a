"""``/kb`` in Slack and Teams: the answers rendered as a Slack ephemeral Block Kit message or a
Teams outgoing-webhook reply. Pure: values in, JSON-ready dicts out; no HTTP, no search.

    >>> answer = KbAnswer(query="ORA-12154", hits=(KbHit(title, url, snippet_html, freshness),),
    ...                   public_url="https://kb.example")
    >>> slack_reply(answer)    # {"response_type": "ephemeral", "text": ..., "blocks": [...]}
    >>> teams_reply(answer)    # {"type": "message", "text": ...}
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    MarkdownTextObject,
    SectionBlock,
)

from freshness.policy import Freshness, Status

COMMAND = "/kb"
TOP = 3  # results shown: an ephemeral answer is read in the middle of an incident
SNIPPET_CHARS = 280
POST_ACTION = "fieldguide_post"  # the "Post to channel" button's action_id prefix
_MARK = re.compile(r"(</?mark>)")
_TAG = re.compile(r"<[^>]*>")
_AT = re.compile(r"<at\b[^>]*>.*?</at>", re.I | re.S)  # Teams' mention of the webhook's name


@dataclass(frozen=True)
class KbHit:
    """One result as ``/kb`` shows it. ``snippet``: the search snippet (HTML-safe, matched terms
    in ``<mark>``)."""

    id: str
    title: str
    url: str
    snippet: str
    freshness: Freshness


@dataclass(frozen=True)
class KbAnswer:
    query: str
    hits: tuple[KbHit, ...]
    public_url: str

    @property
    def search_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/?q={urllib.parse.quote(self.query)}"

    @property
    def ask_url(self) -> str:
        """Where to ask for help or request an article: the assistant, which hands off to a
        person with the question."""
        return f"{self.public_url.rstrip('/')}/chat"


def slack_escape(text: str) -> str:
    """Slack's three control characters (its documented escaping): ``&``, ``<``, ``>``.
    ``<!channel>``-style mentions and ``<url|text>`` links need a ``<``, so none survive."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link_url(url: str) -> str:
    # Inside <url|text>, a '|' or '>' would end the URL early.
    return slack_escape(url).replace("|", "%7C")


def snippet_mrkdwn(snippet: str, limit: int = SNIPPET_CHARS) -> str:
    """The search snippet in Slack mrkdwn: matched terms in bold, the rest escaped."""
    out: list[str] = []
    marked = False
    used = 0
    for part in _MARK.split(snippet):
        if part in ("<mark>", "</mark>"):
            marked = part == "<mark>"
            continue
        text = html.unescape(_TAG.sub("", part)).replace("\n", " ")
        if used + len(text) > limit:
            text = text[: max(0, limit - used)].rstrip() + "…"
        used += len(text)
        word = slack_escape(text)
        core = word.strip()
        if marked and core:
            # mrkdwn bold needs the asterisks against the word; keep the spaces outside.
            lead, trail = word[: len(word) - len(word.lstrip())], word[len(word.rstrip()):]
            word = f"{lead}*{core}*{trail}"
        out.append(word)
        if used >= limit:
            break
    return "".join(out).strip()


def snippet_text(snippet: str, limit: int = SNIPPET_CHARS) -> str:
    """The snippet as plain text (matched terms unmarked), cut at ``limit``."""
    text = " ".join(html.unescape(_TAG.sub("", snippet)).split())
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def freshness_line(f: Freshness) -> str:
    """The state a reader must know before acting on an article."""
    due = f" (review by {f.review_by.isoformat()})" if f.review_by else ""
    if f.banner or f.status is Status.UNVERIFIED:
        return (":warning: *Unverified*: past its review date and not re-checked by its owner"
                f"{due}; double-check before relying on it.")
    if f.status is None:
        return "Freshness: unknown"
    if f.status is Status.STALE:
        return f"Stale: its review is overdue{due}."
    if f.status is Status.DUE_SOON:
        return f"Due for review soon{due}."
    return f"Fresh{due}."


def usage(command: str = COMMAND) -> str:
    return (f"Usage: `{command} <error message, alert name or question>`, e.g. "
            f"`{command} ORA-12154` or `{command} VPN keeps disconnecting`. The answer is shown "
            "only to you; use *Post to channel* to share an article.")


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text[:3000]))


def _post_value(hit: KbHit, query: str) -> str:
    # Slack sends the value back when the button is clicked; 2,000 characters at most.
    return json.dumps({"id": hit.id, "q": query[:500]}, ensure_ascii=False)[:2000]


def slack_reply(answer: KbAnswer) -> dict[str, Any]:
    """The ephemeral answer to ``/kb``: the top results, each with its link, snippet, freshness
    and a "Post to channel" button; or, without results, where to search and ask."""
    if not answer.query.strip():
        return slack_usage()
    q = slack_escape(answer.query)
    blocks: list[Block] = []
    hits = answer.hits[:TOP]
    if not hits:
        text = f"No article matches “{answer.query}”."
        blocks.append(_section(
            f"No article matches *{q}*.\n<{_link_url(answer.search_url)}|Search the knowledge "
            f"base> or <{_link_url(answer.ask_url)}|ask for help and request an article>."))
        return {"response_type": "ephemeral", "text": text,
                "blocks": [b.to_dict() for b in blocks]}
    blocks.append(_section(f"Knowledge base results for *{q}*:"))
    for n, hit in enumerate(hits, 1):
        blocks.append(DividerBlock())
        body = f"*<{_link_url(hit.url)}|{slack_escape(hit.title)}>*"
        snippet = snippet_mrkdwn(hit.snippet)
        if snippet:
            body += f"\n{snippet}"
        blocks.append(_section(body))
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=freshness_line(hit.freshness))]))
        blocks.append(ActionsBlock(elements=[ButtonElement(
            text="Post to channel", action_id=f"{POST_ACTION}_{n}",
            value=_post_value(hit, answer.query))]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text=f"<{_link_url(answer.search_url)}|More results> · "
             f"<{_link_url(answer.ask_url)}|Not it? Ask for help>")]))
    text = f"{len(hits)} knowledge base result(s) for “{answer.query}”: " + "; ".join(
        h.title for h in hits)
    return {"response_type": "ephemeral", "text": text, "blocks": [b.to_dict() for b in blocks]}


def slack_usage(command: str = COMMAND) -> dict[str, Any]:
    text = usage(command)
    return {"response_type": "ephemeral", "text": text, "blocks": [_section(text).to_dict()]}


def slack_post(hit: KbHit, query: str, user_id: str | None = None) -> dict[str, Any]:
    """The message "Post to channel" shares: the article for everyone in the channel."""
    who = f"<@{slack_escape(user_id)}> shared" if user_id else "Shared"
    body = f"{who} from the knowledge base: *<{_link_url(hit.url)}|{slack_escape(hit.title)}>*"
    snippet = snippet_mrkdwn(hit.snippet)
    if snippet:
        body += f"\n{snippet}"
    blocks: list[Block] = [_section(body), ContextBlock(elements=[MarkdownTextObject(
        text=freshness_line(hit.freshness))])]
    return {"response_type": "in_channel", "replace_original": False,
            "text": f"{hit.title}: {hit.url}", "blocks": [b.to_dict() for b in blocks]}


def parse_post_value(value: str) -> tuple[str, str]:
    """(article id, query) from a "Post to channel" button's value; ValueError when it is not
    one of ours."""
    data = json.loads(value)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ValueError("not a Post to channel value")
    return data["id"], str(data.get("q") or "")


def teams_query(text: str) -> str:
    """The question in a Teams outgoing-webhook message: the ``<at>name</at>`` mention and the
    HTML Teams wraps it in removed."""
    plain = html.unescape(_TAG.sub(" ", _AT.sub(" ", text)))
    words = plain.split()
    if words and words[0].lower() in (COMMAND, COMMAND.lstrip("/"), "kb"):
        words = words[1:]
    return " ".join(words)


def _teams_escape(text: str) -> str:
    # Teams renders a subset of Markdown and some HTML: keep titles and snippets as text.
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


def teams_reply(answer: KbAnswer) -> dict[str, Any]:
    """The Teams outgoing-webhook reply: a message activity (Teams posts it in the thread)."""
    if not answer.query.strip():
        return {"type": "message", "text": usage("@Fieldguide").replace("*", "**")}
    hits = answer.hits[:TOP]
    q = _teams_escape(answer.query)
    if not hits:
        return {"type": "message", "text": (
            f"No article matches **{q}**. [Search the knowledge base]({answer.search_url}) or "
            f"[ask for help and request an article]({answer.ask_url}).")}
    lines = [f"Knowledge base results for **{q}**:", ""]
    for n, hit in enumerate(hits, 1):
        state = freshness_line(hit.freshness).replace(":warning: *Unverified*", "⚠️ **Unverified**")
        lines.append(f"{n}. **[{_teams_escape(hit.title)}]({hit.url})**  ")
        snippet = snippet_text(hit.snippet)
        if snippet:
            lines.append(f"   {_teams_escape(snippet)}  ")
        lines.append(f"   _{state}_")
        lines.append("")
    lines.append(f"[More results]({answer.search_url})")
    return {"type": "message", "text": "\n".join(lines)}
