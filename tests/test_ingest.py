"""Ingesting outside sources: fetch behaviour, storage, retention, dedupe, attribution, CLI.

Every fetch goes to a real HTTP server on 127.0.0.1 (tests/httpserver.py).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from httpserver import LoopbackServer
from ingest_support import make_config, rss

from syndicate.cli import cli
from syndicate.errors import IngestError
from syndicate.ingest import backoff_delay, ingest_due
from syndicate.itemstore import external_articles, source_states
from syndicate.store import Store
from syndicate.urlnorm import normalise_url

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db") as opened:
        yield opened


def _one(store: Store, config, name: str = "out"):  # type: ignore[no-untyped-def]
    return [a for a in external_articles(config, store, mix="feeds") if a.source and a.source.name == name]


def test_ingest_item_fields_are_clean_absolute_and_utc(tmp_path: Path, server: LoopbackServer, store: Store) -> None:
    body = rss(
        [
            {
                "title": "Budget &lt;b&gt;deal&lt;/b&gt; &amp; more",
                "link": "/2026/budget?utm_source=rss",
                "guid": "budget-1",
                "date": "Fri, 27 Nov 2026 10:00:00 +0100",
                "author": "ed@example.com (Ana Ruiz)",
                "category": "EU",
                "html": '<p onclick="x()">Talks <a href="../about">ended</a>.<script>alert(1)</script>'
                '<img src="/i.png" onerror="x"><a href="javascript:alert(1)">j</a></p>',
                "raw": '<enclosure url="/photo.jpg" type="image/jpeg" length="1234"/>',
            },
            {"title": "No date here", "link": "https://outside.example.com/nodate"},
        ]
    )
    server.serve("/feed.xml", body)
    config = make_config(tmp_path, [{"name": "out", "url": server.url("/feed.xml"), "full_content": True}])
    report = ingest_due(config, store, now=NOW)
    assert [r.status for r in report.results] == ["200"]
    assert report.results[0].new == 2
    by_title = {a.title: a for a in _one(store, config)}
    assert set(by_title) == {"Budget deal & more", "No date here"}
    budget = by_title["Budget deal & more"]
    # Relative URLs resolve against the document's own URL (RSS has no xml:base).
    assert budget.url == server.url("/2026/budget?utm_source=rss")
    assert budget.published == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert budget.authors[0].name == "Ana Ruiz"
    assert budget.tags == ("EU",)
    assert budget.image is not None and budget.image.url == server.url("/photo.jpg")
    assert budget.content_html is not None
    for bad in ("script", "onclick", "onerror", "javascript:", "alert"):
        assert bad not in budget.content_html
    assert f'href="{server.url("/about")}"' in budget.content_html
    assert f'src="{server.url("/i.png")}"' in budget.content_html
    assert budget.summary == "Talks ended.j"
    # A missing date becomes the time the item was first seen.
    assert by_title["No date here"].published == NOW
    source = budget.source
    assert source is not None
    assert (source.name, source.feed_url, source.site_url, source.feed_title) == (
        "out",
        server.url("/feed.xml"),
        "https://outside.example.com/",
        "Outside",
    )
    request = server.requests_for("/feed.xml")[0]
    assert request.headers["user-agent"].startswith("syndicate/")
    assert "gzip" in request.headers["accept-encoding"]


def test_ingest_conditional_get_answers_304_cheaply(tmp_path: Path, server: LoopbackServer, store: Store) -> None:
    server.serve(
        "/feed.xml",
        rss([{"title": "A", "link": "https://o.example/a"}]),
        etag='"v1"',
        last_modified="Wed, 25 Nov 2026 10:00:00 GMT",
    )
    config = make_config(tmp_path, [{"name": "out", "url": server.url("/feed.xml")}])
    ingest_due(config, store, now=NOW)
    report = ingest_due(config, store, now=NOW + timedelta(minutes=1))
    assert [(r.status, r.new, r.held) for r in report.results] == [("304", 0, 1)]
    second = server.requests_for("/feed.xml")[1].headers
    assert second["if-none-match"] == '"v1"'
    assert second["if-modified-since"] == "Wed, 25 Nov 2026 10:00:00 GMT"


def test_ingest_updates_changed_items_in_place_and_keeps_dropped_ones(
    tmp_path: Path, server: LoopbackServer, store: Store
) -> None:
    server.serve(
        "/feed.xml",
        rss(
            [
                {"title": "A", "link": "https://o.example/a", "html": "first"},
                {"title": "B", "link": "https://o.example/b"},
            ]
        ),
    )
    config = make_config(tmp_path, [{"name": "out", "url": server.url("/feed.xml")}])
    ingest_due(config, store, now=NOW)
    server.serve(
        "/feed.xml",
        rss(
            [
                {"title": "A2", "link": "https://o.example/a", "html": "second"},
                {"title": "C", "link": "https://o.example/c"},
            ]
        ),
    )
    report = ingest_due(config, store, now=NOW + timedelta(hours=1))
    result = report.results[0]
    assert (result.new, result.changed, result.held) == (1, 1, 3)
    articles = {a.url: a for a in _one(store, config)}
    assert articles["https://o.example/a"].title == "A2"
    assert articles["https://o.example/a"].summary == "second"
    # Same identity, first-seen date kept: the edit does not make it a new item.
    assert articles["https://o.example/a"].published == NOW
    assert articles["https://o.example/a"].key == "src:out:https://o.example/a"
    assert "https://o.example/b" in articles


def test_ingest_retention_by_count_and_age(tmp_path: Path, server: LoopbackServer, store: Store) -> None:
    items = [{"title": f"T{i}", "link": f"https://o.example/{i}", "date": NOW - timedelta(days=i)} for i in range(6)]
    items.append({"title": "old", "link": "https://o.example/old", "date": NOW - timedelta(days=90)})
    server.serve("/feed.xml", rss(items))
    config = make_config(
        tmp_path, [{"name": "out", "url": server.url("/feed.xml"), "max_items": 4, "max_age_days": 30}]
    )
    ingest_due(config, store, now=NOW)
    assert [a.title for a in _one(store, config)] == ["T0", "T1", "T2", "T3"]
    # Ageing out happens on later runs too, even when the source answers 304 or is not due.
    later = make_config(tmp_path, [{"name": "out", "url": server.url("/feed.xml"), "max_items": 4, "max_age_days": 2}])
    server.status("/feed.xml", 304)
    ingest_due(later, store, now=NOW + timedelta(hours=12))
    assert [a.title for a in _one(store, later)] == ["T0", "T1"]


def test_ingest_same_story_from_two_sources_and_our_own_article_appears_once(
    tmp_path: Path, server: LoopbackServer, store: Store
) -> None:
    server.serve(
        "/a.xml",
        rss([
            {"title": "Story", "link": "https://Story.example.com/x/?utm_source=a#top",
             "date": NOW - timedelta(hours=2)},
            {"title": "Ours", "link": "https://news.example.eu/eu-policy/vote/", "date": NOW},
        ]),
    )  # fmt: skip
    server.serve(
        "/b.xml",
        rss([{"title": "Story again", "link": "http://story.example.com:80/x", "date": NOW - timedelta(hours=1)}]),
    )
    server.serve(
        "/c.xml",
        rss([{"title": "Story https", "link": "https://story.example.com/x", "date": NOW - timedelta(hours=1)}]),
    )
    config = make_config(
        tmp_path,
        [{"name": "a", "url": server.url("/a.xml")}, {"name": "b", "url": server.url("/b.xml")},
         {"name": "c", "url": server.url("/c.xml")}],
    )  # fmt: skip
    ingest_due(config, store, now=NOW)
    own = [normalise_url("https://news.example.eu/eu-policy/vote")]
    titles = [a.title for a in external_articles(config, store, mix="feeds", exclude_urls=own)]
    # The http:// copy is a different URL; the https ones collapse into the earliest.
    assert titles == ["Story again", "Story"]


def test_ingest_include_and_exclude_filters(tmp_path: Path, server: LoopbackServer, store: Store) -> None:
    server.serve(
        "/feed.xml",
        rss([
            {"title": "Energy prices fall", "link": "https://o.example/1"},
            {"title": "Football results", "link": "https://o.example/2", "html": "energy drinks sponsor"},
            {"title": "Sponsored: energy", "link": "https://o.example/3"},
            {"title": "Synergy talk", "link": "https://o.example/4"},
        ]),
    )  # fmt: skip
    config = make_config(
        tmp_path,
        [{"name": "out", "url": server.url("/feed.xml"), "include": ["energy"], "exclude": ["sponsored", "football"]}],
    )
    ingest_due(config, store, now=NOW)
    assert [a.title for a in _one(store, config)] == ["Energy prices fall"]


def test_ingest_summary_only_source_never_exposes_full_content(
    tmp_path: Path, server: LoopbackServer, store: Store
) -> None:
    long_body = "<p>" + " ".join(["word"] * 400) + "</p>"
    server.serve("/feed.xml", rss([{"title": "Long", "link": "https://o.example/l", "html": long_body}]))
    config = make_config(tmp_path, [{"name": "out", "url": server.url("/feed.xml")}])
    ingest_due(config, store, now=NOW)
    (article,) = _one(store, config)
    assert article.content_html is None
    assert article.source is not None and article.source.full_content is False
    assert len(article.summary) <= 301 and article.summary.endswith("…")
    assert "summary_html" not in article.extra


def test_ingest_permanent_redirect_updates_url_and_is_reported(
    tmp_path: Path, server: LoopbackServer, store: Store
) -> None:
    server.serve("/new.xml", rss([{"title": "A", "link": "https://o.example/a"}]))
    server.redirect("/old.xml", "/new.xml", status=301)
    server.redirect("/temp.xml", "/new.xml", status=302)
    config = make_config(
        tmp_path, [{"name": "moved", "url": server.url("/old.xml")}, {"name": "temp", "url": server.url("/temp.xml")}]
    )
    report = ingest_due(config, store, now=NOW)
    moved, temp = report.results
    assert moved.moved_to == server.url("/new.xml")
    assert "moved permanently to " + server.url("/new.xml") in moved.message
    assert temp.moved_to is None
    states = source_states(store)
    assert states["moved"].url == server.url("/new.xml")
    assert states["temp"].url == server.url("/temp.xml")
    ingest_due(config, store, now=NOW + timedelta(hours=1))
    assert len(server.requests_for("/old.xml")) == 1  # the next run goes straight to the new URL


def test_ingest_gone_disables_source_until_its_url_changes(
    tmp_path: Path, server: LoopbackServer, store: Store
) -> None:
    server.status("/gone.xml", 410)
    server.serve("/back.xml", rss([{"title": "A", "link": "https://o.example/a"}]))
    config = make_config(tmp_path, [{"name": "gone", "url": server.url("/gone.xml")}])
    (result,) = ingest_due(config, store, now=NOW).results
    assert result.failed and result.disabled
    assert result.message.startswith("HTTP 410 Gone")
    later = ingest_due(config, store, now=NOW + timedelta(days=30))
    assert later.results == () and later.not_due == ("gone",)
    fixed = make_config(tmp_path, [{"name": "gone", "url": server.url("/back.xml")}])
    assert [r.status for r in ingest_due(fixed, store, now=NOW + timedelta(days=31)).results] == ["200"]


def test_ingest_retry_after_is_honoured(tmp_path: Path, server: LoopbackServer, store: Store) -> None:
    server.status("/busy.xml", 429, headers={"Retry-After": "7200"})
    # An HTTP-date is read against the server's own Date header (here: the real clock).
    in_three_hours = format_datetime(datetime.now(UTC) + timedelta(hours=3), usegmt=True)
    server.status("/down.xml", 503, headers={"Retry-After": in_three_hours})
    config = make_config(
        tmp_path, [{"name": "busy", "url": server.url("/busy.xml")}, {"name": "down", "url": server.url("/down.xml")}]
    )
    busy, down = ingest_due(config, store, now=NOW).results
    assert busy.status == "429" and busy.next_attempt == NOW + timedelta(hours=2)
    assert down.status == "503" and down.next_attempt is not None
    assert abs(down.next_attempt - (NOW + timedelta(hours=3))) < timedelta(seconds=5)
    assert ingest_due(config, store, now=NOW + timedelta(minutes=119)).results == ()
    assert [r.name for r in ingest_due(config, store, now=NOW + timedelta(minutes=121)).results] == ["busy"]


def test_ingest_failures_back_off_exponentially_capped(tmp_path: Path, server: LoopbackServer, store: Store) -> None:
    server.status("/err.xml", 500)
    config = make_config(tmp_path, [{"name": "err", "url": server.url("/err.xml")}], max_backoff_minutes=60.0)
    now = NOW
    delays = []
    for _ in range(6):
        (result,) = ingest_due(config, store, now=now).results
        assert result.message.startswith("HTTP 500")
        assert result.next_attempt is not None
        delays.append(result.next_attempt - now)
        now = result.next_attempt
    assert delays == [timedelta(minutes=m) for m in (5, 10, 20, 40, 60, 60)]
    assert source_states(store)["err"].failures == 6
    assert backoff_delay(100, config.ingest) == timedelta(minutes=60)


def test_ingest_interval_and_only(tmp_path: Path, server: LoopbackServer, store: Store) -> None:
    server.serve("/feed.xml", rss([{"title": "A", "link": "https://o.example/a"}]))
    config = make_config(tmp_path, [{"name": "out", "url": server.url("/feed.xml"), "interval_minutes": 60}])
    ingest_due(config, store, now=NOW)
    assert ingest_due(config, store, now=NOW + timedelta(minutes=30)).not_due == ("out",)
    assert [r.name for r in ingest_due(config, store, now=NOW + timedelta(minutes=30), only="out").results] == ["out"]
    with pytest.raises(IngestError, match=r"no source named 'ot' .*did you mean 'out'"):
        ingest_due(config, store, now=NOW, only="ot")


def test_ingest_transport_gzip_and_deflate(tmp_path: Path, server: LoopbackServer, store: Store) -> None:
    doc = rss([{"title": "Zipped", "link": "https://o.example/z"}])
    server.serve("/gz.xml", doc, gzip_body=True)
    server.serve("/zlib.xml", zlib.compress(doc), headers={"Content-Encoding": "deflate"})
    raw = zlib.compressobj(wbits=-15)
    server.serve("/raw.xml", raw.compress(doc) + raw.flush(), headers={"Content-Encoding": "deflate"})
    server.serve("/unlabelled.xml", gzip.compress(doc))
    names = ["gz", "zlib", "raw", "unlabelled"]
    config = make_config(tmp_path, [{"name": n, "url": server.url(f"/{n}.xml")} for n in names])
    report = ingest_due(config, store, now=NOW)
    assert [(r.name, r.status, r.new) for r in report.results] == [(n, "200", 1) for n in names]


def test_ingest_json_feed_1_0_and_1_1(tmp_path: Path, server: LoopbackServer, store: Store) -> None:
    feed11 = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON Eleven",
        "home_page_url": "https://j.example/",
        "feed_url": "https://j.example/feed.json",
        "authors": [{"name": "Feed Author"}],
        "items": [
            {"id": "1", "url": "/one", "title": "One", "content_html": "<p>Hi<script>x</script></p>",
             "date_published": "2026-11-27T08:00:00+01:00", "tags": ["a", 3], "image": "/one.png"},
            {"id": 2, "url": "https://j.example/two", "content_text": "Plain <text> body",
             "authors": [{"name": "Item Author"}]},
            "not an object",
        ],
    }  # fmt: skip
    feed10 = {
        "version": "https://jsonfeed.org/version/1",
        "title": "JSON One",
        "items": [{"id": "x", "url": "https://j.example/x", "title": "X", "summary": "S", "author": {"name": "Old"}}],
    }
    server.serve("/11.json", json.dumps(feed11).encode(), content_type="application/feed+json")
    server.serve("/10.json", json.dumps(feed10).encode(), content_type="application/json")
    config = make_config(
        tmp_path,
        [
            {"name": "j11", "url": server.url("/11.json"), "full_content": True},
            {"name": "j10", "url": server.url("/10.json")},
        ],
    )
    report = ingest_due(config, store, now=NOW)
    assert [(r.status, r.new) for r in report.results] == [("200", 2), ("200", 1)]
    assert "not JSON objects" in report.results[0].message
    articles = {a.title: a for a in external_articles(config, store, mix="feeds")}
    one = articles["One"]
    assert one.url == server.url("/one") and one.published == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert one.content_html == "<p>Hi</p>" and one.tags == ("a",)
    assert one.image is not None and one.image.url == server.url("/one.png")
    assert one.authors[0].name == "Feed Author"
    two = articles["Plain <text> body"]
    assert two.authors[0].name == "Item Author" and two.content_html == "<p>Plain &lt;text&gt; body</p>"
    assert articles["X"].authors[0].name == "Old" and articles["X"].summary == "S"
    assert articles["X"].source is not None and articles["X"].source.feed_title == "JSON One"


def test_ingest_local_file_source(tmp_path: Path, store: Store) -> None:
    feed = tmp_path / "local.xml"
    feed.write_bytes(rss([{"title": "Local", "link": "https://o.example/local"}]))
    config = make_config(tmp_path, [{"name": "local", "url": "local.xml"}, {"name": "missing", "url": "nope.xml"}])
    local, missing = ingest_due(config, store, now=NOW).results
    assert (local.status, local.new) == ("200", 1)
    assert missing.failed and "nope.xml: file not found" in missing.message
    again = ingest_due(config, store, now=NOW + timedelta(minutes=1), only="local").results[0]
    assert again.status == "304"


def test_cli_ingest_and_sources(tmp_path: Path, server: LoopbackServer) -> None:
    server.serve("/feed.xml", rss([{"title": "A", "link": "https://o.example/a"}]))
    server.status("/broken.xml", 404)
    server.redirect("/old.xml", "/feed.xml", status=308)
    (tmp_path / "syndicate.toml").write_text(
        f"""
[site]
title = "T"
url = "https://news.example.eu/"

[ingest]
deadline = 2.0

[[sources]]
name = "good"
url = "{server.url("/feed.xml")}"

[[sources]]
name = "broken"
url = "{server.url("/broken.xml")}"

[[sources]]
name = "moved"
url = "{server.url("/old.xml")}"
""",
        encoding="utf-8",
    )
    runner = CliRunner()
    config = str(tmp_path / "syndicate.toml")
    result = runner.invoke(cli, ["-c", config, "ingest", "--now", "2026-11-28T12:00:00Z"], catch_exceptions=False)
    assert result.exit_code == 1  # one source failed; the others were still ingested
    assert "good: 200 1 new, 0 updated, 1 held" in result.stdout
    assert "error: broken: 404 HTTP 404 Not Found; attempt 1 failed, next try 2026-11-28 12:05 UTC" in result.stderr
    assert "moved permanently to " + server.url("/feed.xml") in result.stderr
    assert result.stdout.strip().endswith("3 sources fetched, 0 not due, 1 failed: 2 new items, 0 updated (" +
                                          result.stdout.strip().rsplit("(", 1)[1])  # fmt: skip
    table = runner.invoke(cli, ["-c", config, "sources", "--now", "2026-11-28T12:01:00Z"], catch_exceptions=False)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "LAST", "FETCH", "RESULT", "ITEMS", "FAILS", "NEXT", "ATTEMPT"]
    assert lines[1].split() == ["good", "ok", "2026-11-28", "12:00", "200", "1", "0", "due", "now"]
    assert lines[2].split() == ["broken", "failing", "2026-11-28", "12:00", "404", "0", "1", "2026-11-28", "12:05"]
    assert lines[3].split() == ["moved", "moved", "2026-11-28", "12:00", "200", "1", "0", "due", "now"]
    assert "broken: HTTP 404 Not Found" in table.stdout
    assert f"moved: moved permanently to {server.url('/feed.xml')}; update its url in the config" in table.stdout


def test_cli_ingest_unknown_source_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "syndicate.toml").write_text(
        '[site]\ntitle = "T"\nurl = "https://n.example/"\n[[sources]]\nname = "alpha"\nurl = "a.xml"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "syndicate.toml"), "ingest", "--source", "alpah"])
    assert result.exit_code == 1
    assert result.stderr == f"Error: no source named 'alpah' in {tmp_path / 'syndicate.toml'} (did you mean 'alpha'?)\n"
