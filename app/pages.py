"""The readable article page: server-rendered HTML, no inline script or style (strict CSP).

It works without JavaScript; ``/static/article.js`` only sends the "was this helpful?" form
in place (progressive enhancement)."""

from __future__ import annotations

import html
import re
from typing import Any

from app.render import article_url

CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
       "img-src 'self' https: data:; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")

# What the reader is told after a vote (the form's redirect and the script's answer).
VOTE_THANKS = {
    True: "Thanks: glad it helped.",
    False: "Thanks for telling us. The article's owner sees it and several such votes put it "
           "up for review. Try the search box above, or ask the assistant.",
}

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _nav(who: str) -> str:
    return f'<nav class="site-who" aria-label="Account">{who}</nav>' if who else ""


def unavailable_page(article_id: str, signin: str, who: str = "") -> str:
    """The answer to a browser for an article it may not read, or one that does not exist:
    the same page for both, so it says nothing of which."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Article not available · Fieldguide</title>
<link rel="stylesheet" href="/static/article.css"></head>
<body>{_nav(who)}<main><article>
<header><p><a href="/">Fieldguide</a></p><h1>Article not available</h1></header>
<p>There is no article <code>{_e(article_id)}</code> that you may read. It may not exist, or it
may be written for engineers: <a class="signin" href="{_e(signin)}">sign in</a> to see what your
role may read.</p>
<p><a href="/">Search the knowledge base</a></p>
</article></main></body></html>
"""


_FIRST_H1 = re.compile(r"\A\s*<h1[^>]*>.*?</h1>\s*", re.S)


def _without_title(body: str) -> str:
    """The rendered body without its leading ``# Title`` heading: the page prints the article's
    title (the front matter's, else that very heading) once, above."""
    m = _FIRST_H1.match(body)
    return body[m.end():] if m else body


def helpful_form(article_url: str, csrf_token: str, message: str = "") -> str:
    """The "was this helpful?" box: a plain form (POST, CSRF field) that works without script."""
    return f"""<section class="helpful" id="helpful" aria-labelledby="helpful-title">
<h2 id="helpful-title">Was this helpful?</h2>
<form class="vote" method="post" action="{_e(article_url)}/helpful">
<input type="hidden" name="csrf" value="{_e(csrf_token)}">
<button type="submit" name="helpful" value="yes">Yes</button>
<button type="submit" name="helpful" value="no">No</button>
</form>
<p class="vote-status" role="status" aria-live="polite">{_e(message)}</p>
</section>"""


def _owner(data: dict[str, Any]) -> str:
    if data.get("owner"):
        return str(data["owner"])
    reviewer = data.get("reviewer")
    return f"unassigned (reviewed by team {reviewer})" if reviewer and reviewer != "unassigned" \
        else "unassigned"


def article_page(data: dict[str, Any], who: str = "", *, csrf_token: str = "",
                 vote_message: str = "", script: str = "/static/article.js") -> str:
    """``data``: the ``GET /api/articles/{id}`` body. Fields are escaped; its HTML is sanitised.
    ``who``: the signed-in person's header element (``app.signin_view.who``), already escaped.
    ``vote_message``: what the "was this helpful?" box says (after a vote, or why not)."""
    fresh = data["freshness"]
    banner = ""
    if fresh.get("banner"):
        banner = ('<div class="banner" role="alert"><strong>Unverified.</strong> This article '
                  "is past its review date and has not been re-checked by its owner; "
                  "double-check before relying on it.</div>")
    meta = [("Owner", _owner(data)), ("Team", data.get("team") or "—"),
            ("Last reviewed", data.get("last_reviewed") or "never"),
            ("Review by", fresh.get("review_by") or "—"),
            ("Status", fresh.get("status") or "—"),
            ("Audience", ", ".join(data.get("audience", [])))]
    meta_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta)
    seen: set[str] = set()
    labels = []
    for t in [*data.get("error_codes", []), *data.get("alerts", []),
              *data.get("services", []), *data.get("tags", [])]:
        if str(t).lower() not in seen:  # a service that is also a tag is shown once ("vpn")
            seen.add(str(t).lower())
            labels.append(t)
    tags = "".join(f'<li class="tag">{_e(t)}</li>' for t in labels)
    body = _without_title(data["html"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(data["title"])} · Fieldguide</title>
<link rel="stylesheet" href="/static/article.css">
<script src="{_e(script)}" defer></script></head>
<body>{_nav(who)}<main>
{banner}<article>
<header><p><a href="/">Fieldguide</a></p>
<nav class="article-tools"><a class="back" href="/">← Back to search</a>
<form class="search" action="/" method="get" role="search"><input type="search" name="q"
aria-label="Search the knowledge base" placeholder="Search the knowledge base">
<button type="submit">Search</button></form></nav>
<h1>{_e(data["title"])}</h1>
<dl class="meta">{meta_html}</dl><ul class="tags">{tags}</ul></header>
{body}
</article>
{helpful_form(article_url(data["id"]), csrf_token, vote_message)}
</main></body></html>
"""
