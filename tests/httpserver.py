"""A real HTTP server on 127.0.0.1 for tests and benches: serves bytes and scripted misbehaviour.

    with LoopbackServer() as server:
        server.serve("/feed.xml", body, content_type="application/rss+xml", etag='"v1"')
        server.hang("/never")               # accepts, never answers
        server.trickle("/slow", body, 1.0)  # one byte per second
        server.redirect("/old", "/feed.xml", status=301)
        fetch(server.url("/feed.xml"), ...)

Every request is recorded (path and headers) in ``server.requests``.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Handler = Callable[["_RequestHandler"], None]


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        with owner.lock:
            owner.requests.append(RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}))
            handler = owner.routes.get(path)
        if handler is None:
            self.reply(404, b"not found", {"Content-Type": "text/plain"})
        else:
            handler(self)

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        sent = {k.lower() for k in (headers or {})}
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "content-length" not in sent:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LoopbackServer

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up mid-response (size limits, deadlines) are expected here.
        pass


class LoopbackServer:
    """A threaded HTTP server on an ephemeral 127.0.0.1 port. Use as a context manager."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_for(self, path: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    # -- behaviours -----------------------------------------------------------

    def route(self, path: str, handler: Handler) -> None:
        with self.lock:
            self.routes[path] = handler

    def serve(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        content_type: str | None = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        gzip_body: bool = False,
    ) -> None:
        """Serve ``body``; with ``etag``/``last_modified``, answer matching conditional requests with 304."""
        payload = gzip.compress(body, mtime=0) if gzip_body else body
        extra = dict(headers or {})
        if content_type:
            extra.setdefault("Content-Type", content_type)
        if gzip_body:
            extra["Content-Encoding"] = "gzip"
        if etag:
            extra["ETag"] = etag
        if last_modified:
            extra["Last-Modified"] = last_modified

        def handler(request: _RequestHandler) -> None:
            match_etag = etag and request.headers.get("If-None-Match") == etag
            match_date = last_modified and request.headers.get("If-Modified-Since") == last_modified
            if match_etag or (match_date and not request.headers.get("If-None-Match")):
                validators = {k: v for k, v in extra.items() if k in ("ETag", "Last-Modified")}
                request.reply(304, b"", validators)
            else:
                request.reply(status, payload, extra)

        self.route(path, handler)

    def serve_file(self, path: str, file: Path, **kwargs: object) -> None:
        self.serve(path, Path(file).read_bytes(), **kwargs)  # type: ignore[arg-type]

    def status(self, path: str, code: int, *, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.route(path, lambda request: request.reply(code, body, headers))

    def redirect(self, path: str, to: str, *, status: int = 301) -> None:
        self.route(path, lambda request: request.reply(status, b"", {"Location": to}))

    def hang(self, path: str) -> None:
        """Accept the request and never answer (until the server stops)."""

        def handler(request: _RequestHandler) -> None:
            self.stopping.wait()

        self.route(path, handler)

    def trickle(self, path: str, body: bytes, interval: float = 1.0) -> None:
        """Send headers at once, then the body one byte per ``interval`` seconds."""

        def handler(request: _RequestHandler) -> None:
            request.send_response(200)
            request.send_header("Content-Type", "application/rss+xml")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.flush()
            for byte in body:
                if self.stopping.wait(interval):
                    return
                try:
                    request.wfile.write(bytes([byte]))
                    request.wfile.flush()
                except OSError:
                    return

        self.route(path, handler)

    def stream(self, path: str, chunk: bytes, count: int, *, headers: dict[str, str] | None = None) -> None:
        """Send ``chunk`` ``count`` times with no Content-Length (the size is discovered only by reading)."""

        def handler(request: _RequestHandler) -> None:
            request.send_response(200)
            for name, value in {"Content-Type": "application/rss+xml", **(headers or {})}.items():
                request.send_header(name, value)
            request.send_header("Connection", "close")
            request.end_headers()
            request.close_connection = True
            try:
                for _ in range(count):
                    if self.stopping.is_set():
                        return
                    request.wfile.write(chunk)
            except OSError:
                return

        self.route(path, handler)
