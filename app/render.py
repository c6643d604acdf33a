"""Markdown to safe HTML: markdown-it-py renders, nh3 sanitises (no script, handlers, js: links).

Articles are trusted content, but an imported wiki page is still someone else's HTML.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from collections.abc import Mapping

import nh3
from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
_URL_SCHEMES = {"http", "https", "mailto"}


def article_url(article_id: str) -> str:
    return "/articles/" + urllib.parse.quote(article_id, safe="/")


def render_markdown(markdown: str, article_path: str = "",
                    path_to_id: Mapping[str, str] | None = None) -> str:
    """Sanitised HTML; relative links to other articles' ``.md`` files become article URLs."""
    html = _MD.render(markdown)
    base = posixpath.dirname(article_path)

    def rewrite(tag: str, attr: str, value: str) -> str | None:
        if tag == "a" and attr == "href" and path_to_id is not None:
            parts = urllib.parse.urlsplit(value)
            if not parts.scheme and not parts.netloc and parts.path.endswith(".md"):
                target = posixpath.normpath(posixpath.join(base, urllib.parse.unquote(parts.path)))
                article_id = path_to_id.get(target)
                if article_id is not None:
                    return article_url(article_id) + (f"#{parts.fragment}" if parts.fragment
                                                      else "")
        return value

    return nh3.clean(html, url_schemes=_URL_SCHEMES, attribute_filter=rewrite,
                     clean_content_tags={"script", "style"})
