"""Real servers on free ports and a real headless Chromium, for the widget tests.

    with ServerThread(app) as service, HostServer(html, csp) as host:
        page.goto(host.url)
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import uvicorn

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def strict_csp(service: str) -> str:
    """The exact policy of the issue: what a locked-down wiki sends."""
    return (f"default-src 'none'; script-src {service}; connect-src {service}; "
            f"style-src {service}; img-src {service} data:")


class ServerThread:
    """uvicorn serving ``app`` in a background thread on a free port (no signal handlers)."""

    def __init__(self, app: Any, port: int | None = None, **options: Any) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, **{"log_level": "warning", **options, "host": "127.0.0.1",
                                        "port": self.port, "lifespan": "on", "ws": "none"})
        self.server = uvicorn.Server(config)
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="fieldguide-test-server",
                                       daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except BaseException as exc:  # startup failed (uvicorn exits): report it in the test
            self.failure = exc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 120  # startup loads the model and the index
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start: {self.failure!r} "
                                   "(its log is above)")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class _HostHandler(http.server.BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, tuple[str, str]]] = {}  # path -> (html, csp); set per server

    def do_GET(self) -> None:
        page = self.pages.get(self.path.split("?")[0])
        if page is None:
            self.send_error(404)
            return
        body, csp = page
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if csp:
            self.send_header("Content-Security-Policy", csp)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


class HostServer:
    """A wiki stand-in on another origin: serves fixed pages with a fixed CSP header."""

    def __init__(self, port: int | None = None) -> None:
        handler = type("Handler", (_HostHandler,), {"pages": {}})
        self.pages: dict[str, tuple[str, str]] = handler.pages
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port or free_port()), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, path: str, html: str, csp: str) -> str:
        self.pages[path] = (html, csp)
        return self.origin + path

    def __enter__(self) -> HostServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def host_page(service: str, body: str, *, head: str = "") -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wiki page</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="{service}/static/widget.js" defer></script>{head}</head>
<body><h1>Team wiki</h1><p>Some page text.</p>
{body}
</body></html>"""


# Records CSP violations from the first byte of every document, before any page script runs.
CSP_RECORDER = """
window.__fgViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__fgViolations.push({directive: e.violatedDirective, blocked: e.blockedURI,
                              sample: e.sample});
}, true);
window.__fgDialogs = 0;
"""


@dataclass
class PageWatch:
    """Console errors, page errors and CSP violations seen by one page."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.add_init_script(CSP_RECORDER)
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

        def on_dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)

    def violations(self, page: Any) -> list[Any]:
        recorded: list[Any] = page.evaluate("window.__fgViolations || []")
        logged = [c for c in self.console if "Content Security Policy" in c]
        return recorded + logged


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)
