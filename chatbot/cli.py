"""``fieldguide chat``: the chatbot in a terminal (a REPL on stdin; nothing is stored).

    $ fieldguide chat --engineer
    you> HikariPool-1 - Connection is not available
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from chatbot.engine import ANONYMOUS, ChatEngine, ConversationState, Reply
from indexer.article import STAFF
from indexer.embed import ModelUnavailableError
from indexer.search import Searcher
from indexer.snapshot import SnapshotError


def render(reply: Reply) -> str:
    lines = [f"[{reply.kind.value}"
             + (f" {reply.confidence:.2f}]" if reply.confidence is not None else "]"),
             reply.text]
    for n, option in enumerate(reply.options, 1):
        lines.append(f"  {n}) {option}")
    for s in reply.sources:
        lines.append(f"  source: {s.title} <{s.url}>")
    return "\n".join(lines)


def run(settings: Any, args: argparse.Namespace, out: TextIO, stdin: TextIO | None = None) -> int:
    source = stdin or sys.stdin
    index_dir = settings.index_path
    embedder = settings.embedder(serving=False)  # one user: every core for each message
    try:
        searcher = Searcher.open(index_dir, embedder)
        engine = ChatEngine(searcher, embedder, settings.chat_config())
        engine.warm_up()
    except (SnapshotError, ModelUnavailableError) as exc:
        print(f"fieldguide chat: {exc}", file=sys.stderr)
        return 2
    audiences = STAFF if getattr(args, "engineer", False) else ANONYMOUS
    state = ConversationState()
    interactive = source.isatty()
    if interactive:
        print("Fieldguide chat. Describe your problem; Ctrl-D or /quit to leave.", file=out)
    while True:
        if interactive:
            print("you> ", end="", file=out, flush=True)
        line = source.readline()
        if not line or line.strip() in ("/quit", "/exit"):
            return 0
        if not line.strip():
            continue
        print(render(engine.reply(line, state, audiences)), file=out, flush=True)
