"""Test helpers for run/serve/websub tests: a real loopback HTTP server that records requests."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"))


@dataclass
class Loopback:
    """A running server: ``url`` to reach it, ``requests`` it received, ``files`` it serves."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    """path -> (body, content type) for GET."""
    post_status: int = 204
    delay: float = 0.0
    get_delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]


@contextmanager
def loopback_server(*, on_request: Callable[[Recorded], None] | None = None) -> Iterator[Loopback]:
    """Serve on 127.0.0.1, a free port, in a thread; record every request."""
    state = Loopback(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _record(self) -> Recorded:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with state.lock:
                state.requests.append(rec)
            if on_request is not None:
                on_request(rec)
            return rec

        def do_POST(self) -> None:
            self._record()
            if state.delay:
                threading.Event().wait(state.delay)
            self.send_response(state.post_status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            rec = self._record()
            if state.get_delay:
                threading.Event().wait(state.get_delay)
            path = rec.path.split("?", 1)[0]
            if path not in state.files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, ctype = state.files[path]
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_dir(server: Loopback, folder: Path, prefix: str = "/") -> None:
    """Expose every file under ``folder`` at ``prefix``."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            ctype = "application/atom+xml" if path.name.endswith(".atom.xml") else "application/rss+xml"
            server.files[prefix + path.relative_to(folder).as_posix()] = (path.read_bytes(), ctype)


SOURCE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title><link>https://wire.example.net/</link>
<description>Outside wire</description>
<item><title>Wire story one</title><link>https://wire.example.net/one</link><guid>wire-1</guid>
<pubDate>Thu, 26 Nov 2026 09:00:00 +0000</pubDate><description>First wire story.</description></item>
</channel></rss>
"""


def article_md(title: str, date: str, category: str, body: str = "Body text.") -> str:
    return f"---\ntitle: {title}\ndate: {date}\ncategories: [{category}]\n---\n\n{body}\n"


def write_site(
    root: Path,
    *,
    source_url: str | None = None,
    hub: str = "",
    smtp_port: int | None = None,
    schedule: tuple[str, ...] = ("daily at 07:00",),
    subscribers: tuple[str, ...] = ("ana@example.org", "ben@example.org", "chloe@example.org"),
    extra_records: dict[str, str] | None = None,
) -> Path:
    """A small, complete site: four records in two categories, an optional source, hub and digest."""
    root.mkdir(parents=True, exist_ok=True)
    articles = root / "articles"
    articles.mkdir(exist_ok=True)
    records = {
        "grid.md": article_md("North Sea grid plan", "2026-11-24T08:00:00+01:00", "Energy"),
        "gas.md": article_md("Gas storage before winter", "2026-11-25T09:30:00+01:00", "Energy"),
        "budget.md": article_md("The EU budget, explained", "2026-11-26T10:00:00+01:00", "Economy"),
        "prices.md": article_md("Prices in the euro area", "2026-11-27T11:00:00+01:00", "Economy"),
        **(extra_records or {}),
    }
    for name, text in records.items():
        (articles / name).write_text(text, encoding="utf-8")
    (root / "subscribers.csv").write_text(
        "email,name\n" + "".join(f"{a},{a.split('@')[0].title()}\n" for a in subscribers), encoding="utf-8"
    )
    lines = [
        "[site]",
        'title = "Test Ledger"',
        'url = "https://ledger.example.eu/"',
        'timezone = "Europe/Brussels"',
        'author = "Desk"',
        "",
        "[records]",
        'paths = ["articles"]',
        "",
        "[feeds]",
        f'hub = "{hub}"',
        "hub_timeout = 3",
        "",
        "[digest]",
        f"schedule = [{', '.join(repr(s).replace(chr(39), chr(34)) for s in schedule)}]",
        'from_name = "Test Ledger"',
        'from_address = "digest@ledger.example.eu"',
        'list_id = "Digest <digest.ledger.example.eu>"',
        'subscribers = "subscribers.csv"',
        'unsubscribe_url = "https://ledger.example.eu/unsubscribe?email={email}&token={token}"',
        'unsubscribe_mailto = "unsubscribe@ledger.example.eu"',
        "max_age_days = 30",
        "",
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {smtp_port or 1}",
        'security = "none"',
        "timeout = 5",
        "retries = 0",
    ]
    if source_url:
        lines += [
            "",
            "[[sources]]",
            'name = "Wire"',
            f'url = "{source_url}"',
            'categories = ["Energy"]',
            "max_age_days = 365",
            "interval_minutes = 60",
        ]
    (root / "syndicate.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


REPO = Path(__file__).resolve().parent.parent


def copy_example_site(folder: Path) -> Path:
    """A private copy of the bundled example site (config and example/) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "syndicate.toml", folder / "syndicate.toml")
    shutil.copytree(REPO / "example", folder / "example")
    return folder
