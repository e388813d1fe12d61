"""RFC 5005 feed history: archive documents, their links, and pages that never change."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
from feedcheck import A, all_problems, parse_xml

from syndicate.archives import add_archives, paginate
from syndicate.categories import build_categories
from syndicate.config import Config, parse_config
from syndicate.feeds import feed_url, plan_feeds, render_outputs
from syndicate.model import Article

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
FH = "{http://purl.org/syndication/history/1.0}"
FEEDS = "https://ledger.example.eu/feeds/"


def make_config(tmp_path: Path, **feeds: Any) -> Config:
    raw: dict[str, Any] = {
        "site": {"title": "The Brussels Ledger", "url": "https://ledger.example.eu/", "author": "Desk"},
        "feeds": {"archives": True, "archive_size": 4, "items": 5, "stylesheet": False, **feeds},
    }
    return parse_config(raw, tmp_path / "syndicate.toml")


def article(n: int, category: str = "Energy", *, published: datetime | None = None) -> Article:
    when = published or T0 + timedelta(hours=n)
    return Article(
        key=f"id:a{n}",
        id=f"a{n}",
        feed_id=f"tag:ledger.example.eu,2025:a{n}",
        title=f"Article {n}",
        url=f"https://ledger.example.eu/a{n}/",
        slug=f"a{n}",
        published=when,
        updated=when,
        categories=(category,),
        summary=f"Summary {n}.",
        content_html=f"<p>Body {n}.</p>",
    )


def build(config: Config, articles: list[Article], first_seen: dict[str, datetime] | None = None) -> dict[str, bytes]:
    categories = build_categories(config, {c for a in articles for c in a.categories}, {})
    plan = plan_feeds(config, articles, categories)
    plan = add_archives(config, plan, articles, categories, first_seen=first_seen)
    return render_outputs(config, plan)


def links(data: bytes) -> dict[str, str]:
    """Feed-level links by rel (entry links left out)."""
    root = parse_xml(data)
    return {link.get("rel"): link.get("href") for link in root.findall(f"{A}link")}


def entry_ids(data: bytes) -> list[str]:
    return [e.findtext(f"{A}id") for e in parse_xml(data).iter(f"{A}entry")]


def test_archives_hold_the_whole_history_in_fixed_slices_from_the_oldest(tmp_path: Path) -> None:
    config = make_config(tmp_path, all_feed=False)
    outputs = build(config, [article(n) for n in range(1, 11)])  # 10 items, slices of 4: 4 + 4 + 2
    archive = sorted(p for p in outputs if p.startswith("archive/"))
    assert archive == [f"archive/energy/{n}.{ext}" for n in (1, 2, 3) for ext in ("atom", "json", "rss")]

    assert entry_ids(outputs["archive/energy/1.atom"]) == [f"tag:ledger.example.eu,2025:a{n}" for n in (4, 3, 2, 1)]
    assert entry_ids(outputs["archive/energy/3.atom"]) == [f"tag:ledger.example.eu,2025:a{n}" for n in (10, 9)]

    current = parse_xml(outputs["energy.atom"])
    assert links(outputs["energy.atom"])["prev-archive"] == FEEDS + "archive/energy/3.atom"
    assert current.find(f"{FH}complete") is None and current.find(f"{FH}archive") is None

    middle = parse_xml(outputs["archive/energy/2.atom"])
    assert middle.find(f"{FH}archive") is not None
    assert links(outputs["archive/energy/2.atom"]) == {
        "self": FEEDS + "archive/energy/2.atom",
        "alternate": "https://ledger.example.eu/category/energy/",
        "current": FEEDS + "energy.atom",
        "prev-archive": FEEDS + "archive/energy/1.atom",
        "next-archive": FEEDS + "archive/energy/3.atom",
    }
    # RFC 5005: archive documents share the subscription feed's id.
    assert middle.findtext(f"{A}id") == current.findtext(f"{A}id")
    assert "prev-archive" not in links(outputs["archive/energy/1.atom"])
    assert "next-archive" not in links(outputs["archive/energy/3.atom"])

    # Each format links to its own format.
    rss_links = {
        link.get("rel"): link.get("href")
        for link in parse_xml(outputs["archive/energy/2.rss"]).iter("{http://www.w3.org/2005/Atom}link")
    }
    assert rss_links["prev-archive"] == FEEDS + "archive/energy/1.rss"
    assert rss_links["current"] == FEEDS + "energy.rss"

    assert not all_problems(outputs.items())


def test_json_feed_walks_back_with_next_url(tmp_path: Path) -> None:
    config = make_config(tmp_path, all_feed=False)
    outputs = build(config, [article(n) for n in range(1, 11)])
    walk = []
    document = json.loads(outputs["energy.json"])
    while "next_url" in document:
        path = document["next_url"].removeprefix(FEEDS)
        walk.append(path)
        document = json.loads(outputs[path])
    assert walk == ["archive/energy/3.json", "archive/energy/2.json", "archive/energy/1.json"]


def test_walking_prev_archive_recovers_every_item_once(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    articles = [article(n, "Energy" if n % 3 else "Economy") for n in range(1, 24)]
    outputs = build(config, articles)
    seen: set[str] = set()
    path: str | None = "all.atom"
    pages = 0
    while path is not None:
        parsed = feedparser.parse(outputs[path])
        assert parsed.bozo == 0
        seen.update(e.id for e in parsed.entries)
        href = links(outputs[path]).get("prev-archive")
        path = href.removeprefix(FEEDS) if href else None
        pages += 1
    assert seen == {a.feed_id for a in articles}
    assert pages == 1 + 6  # 23 items in slices of 4


def test_existing_archive_pages_never_change_when_items_arrive(tmp_path: Path) -> None:
    config = make_config(tmp_path, all_feed=False)
    articles = [article(n) for n in range(1, 10)]  # 9 items: pages 4 + 4 + 1
    first_seen = {a.key: T0 + timedelta(days=30) for a in articles}  # all imported at once
    before = build(config, articles, first_seen)
    for n in range(10, 19):
        new = article(n, published=T0 + timedelta(days=30, hours=n))
        articles.append(new)
        first_seen[new.key] = new.published
        after = build(config, articles, first_seen)
        newest_before = max(int(p.split("/")[2].split(".")[0]) for p in before if p.startswith("archive/"))
        for path, data in before.items():
            if path.startswith("archive/") and int(path.split("/")[2].split(".")[0]) < newest_before:
                assert after[path] == data, f"{path} changed when item {n} arrived"
        before = after


def test_back_dated_late_item_lands_in_the_newest_page(tmp_path: Path) -> None:
    config = make_config(tmp_path, all_feed=False)
    articles = [article(n) for n in range(1, 10)]
    first_seen = {a.key: a.published for a in articles}
    before = build(config, articles, first_seen)
    late = article(99, published=T0 - timedelta(days=365))
    after = build(config, [*articles, late], {**first_seen, late.key: T0 + timedelta(days=60)})
    assert after["archive/energy/1.atom"] == before["archive/energy/1.atom"]
    assert after["archive/energy/2.atom"] == before["archive/energy/2.atom"]
    assert late.feed_id in entry_ids(after["archive/energy/3.atom"])


def test_short_history_is_a_complete_feed_without_archives(tmp_path: Path) -> None:
    config = make_config(tmp_path, all_feed=False)
    outputs = build(config, [article(n) for n in range(1, 6)])  # 5 items, 5 per feed
    assert not [p for p in outputs if p.startswith("archive/")]
    assert parse_xml(outputs["energy.atom"]).find(f"{FH}complete") is not None
    assert "prev-archive" not in links(outputs["energy.atom"])
    assert not all_problems(outputs.items())


def test_archives_off_leaves_the_plan_alone(tmp_path: Path) -> None:
    config = make_config(tmp_path, archives=False)
    outputs = build(config, [article(n) for n in range(1, 11)])
    assert not [p for p in outputs if p.startswith("archive/")]
    assert b"fh:" not in outputs["energy.atom"]


def test_archives_are_left_out_of_opml_and_index(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    outputs = build(config, [article(n) for n in range(1, 11)])
    assert b"archive/" not in outputs["index.opml"]
    assert b"archive/" not in outputs["index.html"]


def test_paginate_orders_by_arrival_then_date() -> None:
    items = [article(n) for n in range(1, 6)]
    pages = paginate(items, 2, {"id:a1": T0 + timedelta(days=9)})
    assert [[a.id for a in page] for page in pages] == [["a3", "a2"], ["a5", "a4"], ["a1"]]


def test_feed_url_of_an_archive_page(tmp_path: Path) -> None:
    config = make_config(tmp_path, all_feed=False)
    articles = [article(n) for n in range(1, 11)]
    categories = build_categories(config, {"Energy"}, {})
    plan = add_archives(config, plan_feeds(config, articles, categories), articles, categories)
    archive_specs = [spec for spec, _ in plan if spec.archive]
    assert [feed_url(config, s, "rss") for s in archive_specs] == [FEEDS + f"archive/energy/{n}.rss" for n in (1, 2, 3)]
