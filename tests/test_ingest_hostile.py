"""Bad and hostile sources: each ends in one line for that source, the others ingest normally,
the store stays intact, and time and memory stay bounded. Real HTTP on 127.0.0.1 throughout."""

from __future__ import annotations

import functools
import gzip
import re
import socket
import sqlite3
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from httpserver import LoopbackServer
from ingest_support import make_config, rss

from syndicate.ingest import SourceResult, ingest_due
from syndicate.store import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GOOD = rss([{"title": f"Good {i}", "link": f"https://good.example/{i}", "date": NOW} for i in range(3)])
BEFORE = rss([{"title": "Kept", "link": "https://bad.example/kept", "date": NOW - timedelta(hours=1)}])
LIMIT = 1_000_000  # ingest.max_bytes in these tests (see ingest_support.FAST_INGEST)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def _gzip_bomb(size: int = 200 * 1024 * 1024) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b"\0" * (1024 * 1024)
    return b"".join([packer.compress(block) for _ in range(size // len(block))] + [packer.flush()])


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
    )
    + b']>\n<rss version="2.0"><channel><title>&lol9;</title><item><title>boom &lol9;</title>'
    b"<link>https://bad.example/boom</link><description>&lol9;</description></item></channel></rss>"
)


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[LoopbackServer, Path], str]
    """Arranges the misbehaviour; returns the URL the source now points at."""
    failed: bool
    message: str
    """Regex the result's one-line message must match."""


def _at(path: str, install: Callable[[LoopbackServer], None]) -> Callable[[LoopbackServer, Path], str]:
    def setup(server: LoopbackServer, tmp_path: Path) -> str:
        install(server)
        return server.url(path)

    return setup


def _redirect_chain(server: LoopbackServer) -> None:
    for i in range(10):
        server.redirect(f"/hop{i}", f"/hop{i + 1}", status=302)


def _xxe(server: LoopbackServer, tmp_path: Path) -> str:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN", encoding="utf-8")
    doc = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">'
        f'<!ENTITY % pe SYSTEM "file://{secret}"> %pe;]>\n'
        '<rss version="2.0"><channel><title>x &xxe;</title><item><title>leak &xxe;</title>'
        "<link>https://bad.example/xxe</link><description>&xxe;</description></item></channel></rss>"
    ).encode()
    server.serve("/bad", doc)
    return server.url("/bad")


CASES = [
    Case("404", _at("/bad", lambda s: s.status("/bad", 404)), True, r"^HTTP 404 Not Found; attempt 1 failed"),
    Case(
        "410", _at("/bad", lambda s: s.status("/bad", 410)), True, r"^HTTP 410 Gone: the feed is gone; source disabled"
    ),
    Case("500", _at("/bad", lambda s: s.status("/bad", 500)), True, r"^HTTP 500 Internal Server Error; attempt 1"),
    Case(
        "dns", lambda s, p: "http://nonexistent.invalid/feed.xml", True, r"^DNS lookup failed for nonexistent\.invalid"
    ),
    Case(
        "refused", lambda s, p: f"http://127.0.0.1:{_closed_port()}/feed", True, r"^connection refused by 127\.0\.0\.1"
    ),
    Case("never-answers", _at("/bad", lambda s: s.hang("/bad")), True, r"^no answer from 127\.0\.0\.1:\d+ within"),
    Case("trickle", _at("/bad", lambda s: s.trickle("/bad", GOOD, 0.2)), True, r"^gave up after the 2s deadline"),
    Case(
        "redirect-loop",
        _at("/bad", lambda s: (s.redirect("/bad", "/bad2"), s.redirect("/bad2", "/bad"))),
        True,
        r"^redirect loop at http://127\.0\.0\.1:\d+/bad;",
    ),
    Case("too-many-redirects", _at("/hop0", _redirect_chain), True, r"^too many redirects \(more than 5\)"),
    Case(
        "oversize-declared",
        _at("/bad", lambda s: s.serve("/bad", b"<rss>" + b" " * (2 * LIMIT))),
        True,
        r"^response too large: 2,000,005 bytes \(limit 1,000,000\)",
    ),
    Case(
        "oversize-streamed",
        _at("/bad", lambda s: s.stream("/bad", b" " * 65536, 40)),
        True,
        r"^response too large: over 1,000,000 bytes",
    ),
    Case(
        "gzip-bomb",
        _at("/bad", lambda s: s.serve("/bad", _gzip_bomb(), headers={"Content-Encoding": "gzip"})),
        True,
        r"^response too large: decompresses to over 1,000,000 bytes",
    ),
    Case(
        "corrupt-gzip",
        _at(
            "/bad", lambda s: s.serve("/bad", b"\x1f\x8b\x08\x00garbage-not-gzip", headers={"Content-Encoding": "gzip"})
        ),
        True,
        r"^corrupt gzip data",
    ),
    Case(
        "malformed-xml",
        _at("/bad", lambda s: s.serve("/bad", GOOD.replace(b"</channel></rss>", b"<item><title>cut"))),
        False,
        r"^4 new, 0 updated, 5 held; warning: malformed feed \(.*\); kept 4 entries that could be read",
    ),
    Case(
        "wrong-encoding",
        _at(
            "/bad",
            lambda s: s.serve(
                "/bad",
                rss([{"title": "Café crème", "link": "https://bad.example/cafe"}]).replace("é".encode(), b"\xe9"),
                content_type="application/rss+xml; charset=utf-8",
            ),
        ),
        False,
        r"^1 new, 0 updated, 2 held",
    ),
    Case(
        "missing-encoding",
        _at(
            "/bad",
            lambda s: s.serve(
                "/bad",
                b'<rss version="2.0"><channel><title>T</title><item><title>Caf\xe9</title>'
                b"<link>https://bad.example/cafe</link></item></channel></rss>",
                content_type="text/xml",
            ),
        ),
        False,
        r"^1 new, 0 updated, 2 held",
    ),
    Case(
        "html-page",
        _at(
            "/bad",
            lambda s: s.serve(
                "/bad",
                b"<!DOCTYPE html><html><head><title>Moved</title></head><body>Hi</body></html>",
                content_type=None,
            ),
        ),
        True,
        r"^not a feed: the server sent an HTML page",
    ),
    Case("empty-body", _at("/bad", lambda s: s.serve("/bad", b"")), True, r"^empty response body"),
    Case(
        "plain-text", _at("/bad", lambda s: s.serve("/bad", b"hello", content_type="text/plain")), True, r"^not a feed"
    ),
    Case(
        "invalid-json",
        _at(
            "/bad",
            lambda s: s.serve(
                "/bad",
                b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
                content_type="application/feed+json",
            ),
        ),
        True,
        r"^invalid JSON: ",
    ),
    Case(
        "json-not-a-feed",
        _at("/bad", lambda s: s.serve("/bad", b'{"hello": "world"}', content_type="application/json")),
        True,
        r"^JSON document is not a JSON Feed",
    ),
    Case("xxe", _xxe, False, r"^1 new, 0 updated, 2 held; warning: malformed feed"),
    Case(
        "billion-laughs",
        _at("/bad", lambda s: s.serve("/bad", BILLION_LAUGHS)),
        False,
        r"held; warning: malformed feed",
    ),
]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def _dump(db_path: Path) -> str:
    with sqlite3.connect(db_path) as db:
        rows = [repr(tuple(r)) for table in ("items", "sources") for r in db.execute(f"SELECT * FROM {table}")]
    return "\n".join(rows)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_source_costs_only_itself(case: Case, tmp_path: Path, server: LoopbackServer) -> None:
    server.serve("/good.xml", GOOD)
    server.serve("/bad", BEFORE)
    sources = [{"name": "good", "url": server.url("/good.xml")}, {"name": "bad", "url": server.url("/bad")}]
    db_path = tmp_path / "state.db"
    with Store(db_path) as store:
        ingest_due(make_config(tmp_path, sources), store, now=NOW)
        sources[1]["url"] = case.setup(server, tmp_path)
        server.serve("/good.xml", GOOD + b"\n")  # changed: the good source really is fetched again
        tracemalloc.start()
        started = time.monotonic()
        report = ingest_due(make_config(tmp_path, sources), store, now=NOW + timedelta(days=1))
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    results = {r.name: r for r in report.results}
    bad: SourceResult = results["bad"]
    assert bad.failed is case.failed, bad.message
    assert re.search(case.message, bad.message), bad.message
    assert "\n" not in bad.message
    assert (results["good"].status, results["good"].failed) == ("200", False)
    assert elapsed < 6, f"took {elapsed:.1f}s"
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = db.execute("SELECT title FROM items WHERE source = 'bad' AND guid = 'https://bad.example/kept'")
        assert kept.fetchall() == [("Kept",)]
        good_count = db.execute("SELECT COUNT(*) FROM items WHERE source = 'good'").fetchone()[0]
        assert good_count == 3
    dump = _dump(db_path)
    assert "TOP-SECRET-TOKEN" not in dump
    assert "lollollol" not in dump
    assert bad.disabled is (case.name == "410")


def test_all_hostile_sources_at_once_leave_the_good_ones_alone(tmp_path: Path, server: LoopbackServer) -> None:
    sources: list[dict[str, object]] = []
    for i in range(3):
        server.serve(f"/good{i}.xml", GOOD)
        sources.append({"name": f"good{i}", "url": server.url(f"/good{i}.xml")})
    with ExitStack() as stack:
        for case in CASES:
            # Cases share paths (/bad), so each gets a server of its own.
            own = stack.enter_context(LoopbackServer())
            sources.append({"name": case.name, "url": case.setup(own, tmp_path)})
        config = make_config(tmp_path, sources, workers=8)
        started = time.monotonic()
        with Store(tmp_path / "state.db") as store:
            report = ingest_due(config, store, now=NOW)
        elapsed = time.monotonic() - started
    results = {r.name: r for r in report.results}
    assert len(results) == len(CASES) + 3
    for i in range(3):
        assert (results[f"good{i}"].status, results[f"good{i}"].new) == ("200", 3)
    assert sorted(name for name, r in results.items() if r.failed) == sorted(c.name for c in CASES if c.failed)
    assert elapsed < 10, f"took {elapsed:.1f}s"


def test_gzip_bomb_in_a_local_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bomb.xml").write_bytes(gzip.compress(b"\0" * (5 * LIMIT)))
    config = make_config(tmp_path, [{"name": "bomb", "url": "bomb.xml"}])
    with Store(tmp_path / "state.db") as store:
        (result,) = ingest_due(config, store, now=NOW).results
    assert result.failed and result.message.startswith("response too large: decompresses to over 1,000,000 bytes")
