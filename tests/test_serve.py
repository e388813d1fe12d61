"""``syndicate serve``: content types of the feed folder and the live digest preview."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.config import Config, parse_config
from syndicate.errors import SyndicateError, TemplateError
from syndicate.serve import DigestPreview, make_server, serve_in_thread

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def make_site(tmp_path: Path) -> Config:
    out = tmp_path / "feeds"
    out.mkdir()
    files = {
        "all.rss": b"<rss/>",
        "all.atom": b"<feed/>",
        "all.json": b"{}",
        "index.opml": b"<opml/>",
        "index.html": b"<!doctype html><title>Feeds</title>",
        "feed.xsl": b"<xsl/>",
        "archive/energy/1.atom": b"<feed/>",
    }
    for rel, data in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    return parse_config({"site": {"title": "T", "url": "https://t.example/"}}, tmp_path / "syndicate.toml")


@contextmanager
def running(config: Config, preview: object = None) -> Iterator[str]:
    server = make_server(config, port=0, preview=preview, clock=lambda: NOW)  # type: ignore[arg-type]
    serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str) -> tuple[int, str, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read(), dict(exc.headers)


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/all.rss", "application/rss+xml; charset=utf-8", b"<rss/>"),
        ("/all.atom", "application/atom+xml; charset=utf-8", b"<feed/>"),
        ("/all.json", "application/feed+json; charset=utf-8", b"{}"),
        ("/index.opml", "text/x-opml; charset=utf-8", b"<opml/>"),
        ("/feed.xsl", "text/xsl; charset=utf-8", b"<xsl/>"),
        ("/", "text/html; charset=utf-8", b"<!doctype html><title>Feeds</title>"),
        ("/archive/energy/1.atom", "application/atom+xml; charset=utf-8", b"<feed/>"),
    ],
)
def test_serve_feed_folder_with_content_types(tmp_path: Path, path: str, content_type: str, body: bytes) -> None:
    with running(make_site(tmp_path)) as base:
        status, ctype, data, headers = fetch(base + path)
    assert (status, ctype, data) == (200, content_type, body)
    assert headers["Cache-Control"] == "no-cache"


def test_serve_refuses_paths_outside_the_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("no")
    with running(make_site(tmp_path)) as base:
        status, _, data, _ = fetch(base + "/../secret.txt")
        assert status == 404 and data != b"no"
        assert fetch(base + "/%2e%2e/secret.txt")[0] == 404


def test_serve_renders_the_preview_on_every_request(tmp_path: Path) -> None:
    calls: list[datetime] = []

    def preview(config: Config, now: datetime) -> DigestPreview:
        calls.append(now)
        return DigestPreview(html=f"<p>digest {len(calls)} – é</p>", text=f"digest {len(calls)}\n")

    with running(make_site(tmp_path), preview) as base:
        first = fetch(base + "/_preview/digest.html")
        second = fetch(base + "/_preview/digest.html")
        text = fetch(base + "/_preview/digest.txt")
    assert first[:3] == (200, "text/html; charset=utf-8", "<p>digest 1 – é</p>".encode())
    assert second[2] == b"<p>digest 2 \xe2\x80\x93 \xc3\xa9</p>"
    assert text[:3] == (200, "text/plain; charset=utf-8", b"digest 3\n")
    assert calls == [NOW, NOW, NOW]


def test_serve_shows_a_broken_template_instead_of_failing(tmp_path: Path) -> None:
    def preview(config: Config, now: datetime) -> DigestPreview:
        raise TemplateError("templates/digest.html:3: unexpected '}'")

    with running(make_site(tmp_path), preview) as base:
        status, ctype, data, _ = fetch(base + "/_preview/digest.html")
        assert fetch(base + "/all.rss")[0] == 200
    assert (status, ctype) == (500, "text/plain; charset=utf-8")
    assert b"templates/digest.html:3: unexpected '}'" in data


def test_serve_without_a_build_says_what_to_do(tmp_path: Path) -> None:
    config = parse_config({"site": {"title": "T", "url": "https://t.example/"}}, tmp_path / "syndicate.toml")
    (tmp_path / "feeds").mkdir()
    with running(config) as base:
        status, _, data, _ = fetch(base + "/")
    assert status == 200 and b"syndicate build" in data


def test_serve_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    config = make_site(tmp_path)
    first = make_server(config, port=0)
    try:
        with pytest.raises(SyndicateError, match=r"^cannot listen on 127\.0\.0\.1:\d+: .*\(try another --port\)$"):
            make_server(config, port=first.server_address[1])
    finally:
        first.server_close()


def test_serve_answers_head_for_the_preview_without_a_body(tmp_path: Path) -> None:
    def preview(config: Config, now: datetime) -> DigestPreview:
        return DigestPreview(html="<p>digest</p>", text="digest\n")

    with running(make_site(tmp_path), preview) as base:
        request = urllib.request.Request(base + "/_preview/digest.html", method="HEAD")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Length"] == str(len(b"<p>digest</p>"))
            assert response.read() == b""
