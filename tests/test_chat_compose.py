"""Chat answers keep the article's structure and are shortened by whole steps.

1. Nested lists stay under their step, indented ("choose a level:" keeps its levels).
2. Code stays as written; a table becomes rows of cells, no pipes.
3. Shortening drops whole top-level units, never part of one, and says how many steps are left;
   a lead-in ("To open a calendar:") never ends an answer without what it introduces.
4. On the real index, the answers of the issue keep their sub-steps, and the engine's text does
   not ask "Did this help?" (the widget asks it, once).
"""

from __future__ import annotations

import pytest

from chatbot.compose import answer_text, shorten
from chatbot.engine import ChatEngine, ConversationState, ReplyKind
from indexer.blocks import text_blocks
from indexer.content import scan_content
from indexer.embed import Embedder
from indexer.search import Searcher
from tests.conftest import CONTENT

SECTION = """\
Before you start:

1. Open the console:
   - Linux: `journalctl -u vpn`
   - Windows: Event Viewer
2. Run:

   ```
   kubectl get pods | grep api
   ```

3. Compare the limits:

   | Pod | Limit |
   |-----|-------|
   | api | 512Mi |

4. Restart it.
"""


def test_nested_lists_code_and_tables_as_text() -> None:
    blocks = text_blocks(SECTION)
    assert [b.kind for b in blocks] == ["paragraph", "item", "item", "item", "item"]
    assert blocks[1].lines == ("1. Open the console:", "   - Linux: journalctl -u vpn",
                               "   - Windows: Event Viewer")
    assert "      kubectl get pods | grep api" in blocks[2].lines  # code as written
    assert blocks[3].lines[1:] == ("   Pod · Limit", "   api · 512Mi")
    assert all("|" not in line for line in blocks[3].lines)


@pytest.mark.parametrize("limit", range(10, 400, 7))
def test_shortened_by_whole_units(limit: int) -> None:
    blocks = text_blocks(SECTION)
    text = shorten(blocks, limit)
    kept = [b for b in blocks if b.text in text]
    assert kept == blocks[:len(kept)] and kept  # a prefix of whole units, never empty
    assert kept[-1].kind == "item" or len(kept) == len(blocks) or len(kept) == 1
    left = sum(1 for b in blocks[len(kept):] if b.kind == "item")
    if left:
        assert text.endswith(f"See the article for {left} more step{'s' * (left != 1)}.")
    else:
        assert "See the article" not in text


def test_real_answers_keep_their_sub_steps() -> None:
    articles = {a.id: a for a in scan_content(CONTENT, default_audience="engineer").articles}
    mail = answer_text(articles["email-cannot-get-mail-phone"], None, 900)
    assert "may lock your account:\n   - iPhone: Settings > Mail" in mail
    assert "\n   - Android: open Gmail" in mail
    calendar = answer_text(articles["calendar-sharing"], None, 900)
    assert "choose a level:\n   - Can view when I'm busy" in calendar
    assert "Delegate: they can also accept" in calendar
    assert calendar.endswith("See the article for 2 more steps.")
    assert not calendar.rstrip().split("\n\n")[-2].endswith(":")  # no dangling lead-in
    for article in articles.values():
        text = answer_text(article, None, 900)
        assert "|" not in text or "`" in article.body  # pipes only from code


def test_the_engine_answers_with_sub_steps_and_asks_nothing(searcher: Searcher,
                                                            embedder: Embedder) -> None:
    engine = ChatEngine(searcher, embedder)
    reply = engine.reply("outlook won't sync on my iphone", ConversationState())
    assert reply.kind is ReplyKind.ANSWER, reply.text
    assert "   - iPhone:" in reply.text or "iPhone:\n\n1. " in reply.text, reply.text
    assert "Did this help" not in reply.text

