"""``syndicate serve``: a local HTTP server for editors.

It serves the output folder as a static host should (feed files with their registered media
types), and renders a preview of the next digest on every request from the current records
and templates, so an edited template shows on reload. It binds to 127.0.0.1 by default: it
is a preview tool, not a production web server (README: "Serving the feeds" for nginx).
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .config import Config
from .errors import SyndicateError

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".xsl": "text/xsl; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
"""Our own table rather than ``mimetypes``: that one reads /etc/mime.types and knows no feed types."""

PREVIEW_HTML = "/_preview/digest.html"
PREVIEW_TEXT = "/_preview/digest.txt"


@dataclass(frozen=True)
class DigestPreview:
    html: str
    text: str


PreviewRenderer = Callable[[Config, datetime], DigestPreview]
"""``(config, now) -> preview`` of the digest a send at ``now`` would deliver."""


def make_server(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    preview: PreviewRenderer | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ThreadingHTTPServer:
    """A server (not yet serving) for ``config``'s output folder and the digest preview.

    Call ``serve_forever()`` on it, and ``shutdown()`` from another thread to stop it.
    Raises SyndicateError when the address is taken.
    """
    handler = partial(_Handler, config=config, preview=preview or render_digest_preview, clock=clock)
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise SyndicateError(f"cannot listen on {host}:{port}: {exc.strerror} (try another --port)") from exc
    server.daemon_threads = True
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="syndicate-serve", daemon=True)
    thread.start()
    return thread


def render_digest_preview(config: Config, now: datetime) -> DigestPreview:
    """The default preview: the digest module's rendering of what the next send would contain."""
    try:
        from .digest import render_preview
    except ImportError as exc:
        raise SyndicateError("the digest preview is not available in this installation (syndicate.digest)") from exc
    html_text, text = render_preview(config, now=now)
    return DigestPreview(html=html_text, text=text)


class _Handler(SimpleHTTPRequestHandler):
    server_version = "syndicate-serve"
    sys_version = ""

    def __init__(
        self, *args: Any, config: Config, preview: PreviewRenderer, clock: Callable[[], datetime], **kwargs: Any
    ) -> None:
        self.config = config
        self.preview = preview
        self.clock = clock
        super().__init__(*args, directory=str(config.feeds.output), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def guess_type(self, path: Any) -> str:
        name = str(path)
        dot = name.rfind(".")
        suffix = name[dot:].lower() if dot > name.rfind("/") else ""
        return CONTENT_TYPES.get(suffix, "application/octet-stream")

    def end_headers(self) -> None:
        # Editors reload after every build: never let the browser show a stale feed.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def do_GET(self) -> None:
        if self._preview():
            return
        if self._missing_index():
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        if self._preview():
            return
        if self._missing_index():
            return
        super().do_HEAD()

    def _missing_index(self) -> bool:
        path = urlsplit(self.path).path
        if path != "/" or (self.config.feeds.output / "index.html").is_file():
            return False
        body = (
            "<!doctype html><meta charset=utf-8><title>No feeds yet</title>"
            f"<p>{html.escape(str(self.config.feeds.output))} has no index.html yet: run "
            "<code>syndicate build</code>, then reload.</p>"
            f'<p><a href="{PREVIEW_HTML}">Preview the next digest</a></p>'
        )
        self._send(HTTPStatus.OK, CONTENT_TYPES[".html"], body.encode("utf-8"))
        return True

    def _preview(self) -> bool:
        path = urlsplit(self.path).path
        if path not in (PREVIEW_HTML, PREVIEW_TEXT):
            return False
        try:
            preview = self.preview(self.config, self.clock())
        except SyndicateError as exc:
            # A broken template is the common case while editing: show why, don't drop the connection.
            message = f"The digest preview failed:\n\n{exc}\n"
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, CONTENT_TYPES[".txt"], message.encode("utf-8"))
            return True
        if path == PREVIEW_HTML:
            self._send(HTTPStatus.OK, CONTENT_TYPES[".html"], preview.html.encode("utf-8"))
        else:
            self._send(HTTPStatus.OK, CONTENT_TYPES[".txt"], preview.text.encode("utf-8"))
        return True

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
