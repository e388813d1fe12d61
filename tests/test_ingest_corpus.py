"""The shared corpus of 44 real and edge-case feeds, served over loopback and ingested in one go.

Never crashes; every file feedparser can read yields items with sane titles, absolute
links and UTC dates; no unsafe markup reaches the store.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import lxml.html
import pytest
from httpserver import LoopbackServer
from ingest_support import make_config

from syndicate.ingest import IngestReport, ingest_due
from syndicate.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS
from syndicate.store import Store


def _corpus() -> Path:
    # Beside the repository in the usual layout; SYNDICATE_FEED_CORPUS points elsewhere (a CI clone).
    configured = os.environ.get("SYNDICATE_FEED_CORPUS")
    if configured:
        return Path(configured)
    for base in (Path(__file__).resolve().parent.parent.parent, Path("/work")):
        candidate = base / "shared" / "corpus" / "external-feeds"
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "external-feeds"


CORPUS = _corpus()
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CONTENT_TYPES = {".json": "application/feed+json", ".atom": "application/atom+xml"}
URL_ATTRIBUTES = {"href", "src", "cite"}

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"shared feed corpus not found at {CORPUS} (it sits beside the repository)"
)


def _files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name != "README.md")


def _source_name(path: Path) -> str:
    return path.name


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[IngestReport, Path]]:
    tmp_path = tmp_path_factory.mktemp("corpus")
    with LoopbackServer() as server:
        sources = []
        for path in _files():
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                # Transport compression, as a server would label it.
                server.serve(
                    f"/{path.name}", data, content_type="application/xml", headers={"Content-Encoding": "gzip"}
                )
            else:
                # No charset parameter: the document's own declaration (gb2312, windows-1251...) stays in charge.
                server.serve(f"/{path.name}", data, content_type=CONTENT_TYPES.get(path.suffix, "application/xml"))
            sources.append(
                {"name": _source_name(path), "url": server.url(f"/{path.name}"), "max_age_days": 100_000,
                 "max_items": 1000, "full_content": True}
            )  # fmt: skip
        config = make_config(tmp_path, sources, workers=4)
        db_path = tmp_path / "state.db"
        with Store(db_path) as store:
            report = ingest_due(config, store, now=NOW)
        yield report, db_path


def test_corpus_every_file_gets_a_one_line_result(ingested: tuple[IngestReport, Path]) -> None:
    report, _ = ingested
    assert [r.name for r in report.results] == [_source_name(p) for p in _files()]
    for result in report.results:
        assert result.message and "\n" not in result.message, result


def test_corpus_every_readable_file_yields_items(ingested: tuple[IngestReport, Path]) -> None:
    report, _ = ingested
    results = {r.name: r for r in report.results}
    for path in _files():
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        readable = len(feedparser.parse(io.BytesIO(data)).entries) > 0 or path.suffix == ".json"
        result = results[_source_name(path)]
        if readable:
            assert not result.failed and result.held > 0, (path.name, result.message)
    # The HTML page posing as a feed is refused with a clear reason.
    assert results["rss-parser__unrecognized.rss"].message.startswith("not a feed: the server sent an HTML page")


def test_corpus_items_have_sane_titles_absolute_links_and_utc_dates(ingested: tuple[IngestReport, Path]) -> None:
    _, db_path = ingested
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT source, title, link, published, updated, first_seen FROM items").fetchall()
    assert len(rows) > 500
    for source, title, link, published, updated, first_seen in rows:
        where = f"{source}: {title!r}"
        assert title.strip() == title and 0 < len(title) <= 301, where
        assert not re.search(r"<(script|a|p|b|i|img|div|span|br)\b|&(amp|lt|gt|quot);", title), where
        assert not re.search(r"[\x00-\x1f\x7f]", title), where
        parts = urlsplit(link)
        assert parts.scheme in ("http", "https") and parts.hostname, f"{where}: {link!r}"
        for stamp in (published, updated, first_seen):
            moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            assert moment <= NOW, where
        assert updated >= published, where


def test_corpus_no_unsafe_markup_in_the_store(ingested: tuple[IngestReport, Path]) -> None:
    _, db_path = ingested
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT source, summary, content FROM items").fetchall()
    checked = 0
    for source, *fragments in rows:
        for fragment in fragments:
            if not fragment:
                continue
            lowered = fragment.lower()
            for needle in ("<script", "<style", "<iframe", "<object", "<embed", "javascript:", "<svg"):
                assert needle not in lowered, f"{source}: {needle} in {fragment[:200]!r}"
            for element in lxml.html.fragment_fromstring(fragment, create_parent="div").iter():
                if (
                    element is None
                    or not isinstance(element.tag, str)
                    or (element.tag == "div" and element.getparent() is None)
                ):
                    continue
                assert element.tag in ALLOWED_TAGS, f"{source}: <{element.tag}>"
                allowed = ALLOWED_ATTRIBUTES.get(element.tag, set()) | ALLOWED_ATTRIBUTES["*"] | {"rel"}
                for name, value in element.attrib.items():
                    assert name in allowed and not name.startswith("on"), f"{source}: <{element.tag} {name}>"
                    if name in URL_ATTRIBUTES:
                        assert urlsplit(value).scheme in ("http", "https", "mailto"), f"{source}: {name}={value!r}"
                checked += 1
    assert checked > 1000


def test_corpus_known_xss_payloads_are_neutralised(ingested: tuple[IngestReport, Path]) -> None:
    _, db_path = ingested
    with sqlite3.connect(db_path) as db:
        base64 = db.execute(
            "SELECT title, content FROM items WHERE source = ?",
            ("feedparser__wellformed__sanitize__entry_content_script_base64.xml",),
        ).fetchall()
        crazy = db.execute(
            "SELECT summary FROM items WHERE source = ?",
            ("feedparser__wellformed__sanitize__item_description_crazy.xml",),
        ).fetchall()
    assert base64 == [("safe description", "safe description")] or all("script" not in c for _, c in base64)
    assert crazy and all("<script" not in s.lower() for (s,) in crazy)
