"""Building the feed folder: only changed files written, --check, invalid records, caches."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from syndicate.build import build_site
from syndicate.config import load_config
from syndicate.errors import RecordError
from syndicate.store import open_store

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

CONFIG = """\
[site]
title = "Ledger"
url = "https://ledger.example/"
timezone = "UTC"
author = "Desk"

[records]
paths = ["articles"]

[feeds]
items = {items}
"""


def record(title: str, date: str, categories: str = "Economy", extra: str = "") -> str:
    return f"---\ntitle: {title}\ndate: {date}\ncategories: [{categories}]\n{extra}---\nSee [more](more/) on {title}.\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "syndicate.toml").write_text(CONFIG.format(items=50), encoding="utf-8")
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "a.md").write_text(record("Alpha", "2026-05-01T08:00:00Z"), encoding="utf-8")
    (articles / "b.md").write_text(record("Beta", "2026-05-02T08:00:00Z", "Energy, Économie"), encoding="utf-8")
    (articles / "c.json").write_text(
        json.dumps({"title": "Gamma", "date": "2026-05-03", "categories": "Energy", "body": "G *body*"}),
        encoding="utf-8",
    )
    return tmp_path


def build(root: Path, now: datetime = NOW, **kwargs: object):  # type: ignore[no-untyped-def]
    config = load_config(root / "syndicate.toml")
    with open_store(config.state_path) as store:
        return build_site(config, store, now=now, **kwargs)  # type: ignore[arg-type]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_build_writes_every_feed_and_rebuild_changes_nothing(site: Path) -> None:
    result = build(site)
    feeds = site / "feeds"
    names = sorted(p.name for p in feeds.iterdir())
    expected = [f"{slug}.{ext}" for slug in ("all", "economy", "energy", "economie") for ext in ("rss", "atom", "json")]
    assert names == sorted([*expected, "feed.xsl", "index.html", "index.opml"])
    assert len(result.written) == len(names) and result.unchanged == ()
    assert result.records_read == 3
    assert "https://ledger.example/feeds/all.rss" in result.changed_feed_urls
    parsed = feedparser.parse((feeds / "all.atom").read_bytes())
    assert parsed.bozo == 0
    assert [e.title for e in parsed.entries] == ["Gamma", "Beta", "Alpha"]
    assert 'href="https://ledger.example/economy/a/more/"' in parsed.entries[2].content[0].value
    before = snapshot(feeds)
    again = build(site)
    assert again.written == () and len(again.unchanged) == len(names)
    assert again.changed_feed_urls == ()
    assert snapshot(feeds) == before  # same bytes, same mtimes
    # Without any cache: still byte-identical and untouched.
    full = build(site, full=True)
    assert full.written == ()
    assert snapshot(feeds) == before


def test_build_one_edit_rewrites_only_the_feeds_it_is_in(site: Path) -> None:
    build(site)
    before = snapshot(site / "feeds")
    (site / "articles" / "a.md").write_text(record("Alpha, revised", "2026-05-01T08:00:00Z"), encoding="utf-8")
    result = build(site)
    written = sorted(p.name for p in result.written)
    assert written == sorted(f"{slug}.{ext}" for slug in ("all", "economy") for ext in ("rss", "atom", "json"))
    after = snapshot(site / "feeds")
    for name in ("energy.rss", "energy.atom", "energy.json"):
        assert after[name] == before[name]
    assert b"Alpha, revised" in after["economy.rss"][0]
    assert sorted(result.changed_feed_urls) == sorted(
        f"https://ledger.example/feeds/{slug}.{ext}" for slug in ("all", "economy") for ext in ("rss", "atom", "json")
    )


def test_build_scheduled_record_appears_once_due(site: Path) -> None:
    (site / "articles" / "d.md").write_text(record("Delta", "2026-06-01T15:00:00Z"), encoding="utf-8")
    build(site)
    assert b"Delta" not in (site / "feeds" / "all.rss").read_bytes()
    assert build(site, NOW + timedelta(hours=1)).written == ()
    later = build(site, NOW + timedelta(hours=4))
    assert site / "feeds" / "all.rss" in later.written
    assert b"Delta" in (site / "feeds" / "all.rss").read_bytes()


def test_build_check_writes_nothing_and_reports_changes(site: Path) -> None:
    result = build(site, check=True)
    assert not (site / "feeds").exists()
    assert len(result.would_change) == 15 and result.written == ()
    build(site)
    assert build(site, check=True).would_change == ()
    (site / "articles" / "c.json").write_text(
        json.dumps({"title": "Gamma 2", "date": "2026-05-03", "categories": "Energy"}), encoding="utf-8"
    )
    before = snapshot(site / "feeds")
    changed = build(site, check=True)
    assert sorted(p.name for p in changed.would_change) == sorted(
        f"{s}.{e}" for s in ("all", "energy") for e in ("rss", "atom", "json")
    )
    assert snapshot(site / "feeds") == before


def test_build_refuses_invalid_records_and_leaves_feeds_intact(site: Path) -> None:
    build(site)
    before = snapshot(site / "feeds")
    (site / "articles" / "a.md").write_text(record("Alpha", "2026-02-30"), encoding="utf-8")
    (site / "articles" / "e.md").write_text("---\ndate: 2026-05-05\n---\n", encoding="utf-8")
    with pytest.raises(RecordError) as caught:
        build(site)
    assert caught.value.problems == [
        "articles/a.md:3: date: not a valid ISO 8601 date: '2026-02-30'",
        "articles/e.md:1: title: missing (every record needs one)",
    ]
    assert snapshot(site / "feeds") == before
    skipped = build(site, skip_invalid=True)
    assert skipped.warnings == (
        "skipped invalid record: articles/a.md:3: date: not a valid ISO 8601 date: '2026-02-30'",
        "skipped invalid record: articles/e.md:1: title: missing (every record needs one)",
    )
    assert b"Alpha" not in (site / "feeds" / "all.rss").read_bytes()
    # The Economy feed lost its only article: it stays, valid and empty, rather than a 404.
    economy = feedparser.parse((site / "feeds" / "economy.rss").read_bytes())
    assert economy.bozo == 0 and economy.entries == []


def test_build_config_change_is_seen(site: Path) -> None:
    build(site)
    (site / "syndicate.toml").write_text(CONFIG.format(items=1), encoding="utf-8")
    result = build(site)
    assert site / "feeds" / "all.rss" in result.written
    assert len(feedparser.parse((site / "feeds" / "all.rss").read_bytes()).entries) == 1


def test_build_template_change_is_seen(site: Path) -> None:
    build(site)
    templates = site / "templates"
    templates.mkdir()
    (templates / "feed.xsl").write_text('<?xml version="1.0"?>\n<!-- site stylesheet -->\n', encoding="utf-8")
    result = build(site)
    assert [p.name for p in result.written] == ["feed.xsl"]
    assert b"site stylesheet" in (site / "feeds" / "feed.xsl").read_bytes()


def test_build_restores_a_deleted_or_edited_output(site: Path) -> None:
    build(site)
    (site / "feeds" / "energy.json").unlink()
    (site / "feeds" / "all.rss").write_bytes(b"broken")
    result = build(site)
    assert sorted(p.name for p in result.written) == ["all.rss", "energy.json"]


def test_build_pins_category_slugs(site: Path) -> None:
    build(site)
    config = load_config(site / "syndicate.toml")
    with open_store(config.state_path) as store:
        slugs = json.loads(store.get_meta("category_slugs") or "{}")
    assert slugs == {"Economy": "economy", "Energy": "energy", "Économie": "economie"}


def test_build_out_option_and_mtime_kept(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    build(site, out=out)
    stamp = (out / "all.rss").stat().st_mtime_ns
    os.utime(site / "articles" / "b.md")  # touched, not changed
    result = build(site, out=out)
    assert result.written == ()
    assert (out / "all.rss").stat().st_mtime_ns == stamp
