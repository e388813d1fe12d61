"""Feed rendering: every output valid (RFC 4287 schema + prose, RSS 2.0, JSON Feed 1.1, feedparser),
the same items in every format, and byte-identical output for identical input in any order."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import pytest
from feedcheck import (
    A,
    all_problems,
    atom_problems,
    feedparser_items,
    jsonfeed_problems,
    parse_rfc822,
    parse_xml,
    rss2_problems,
)
from lxml import etree

from syndicate.categories import build_categories
from syndicate.config import Config, parse_config
from syndicate.feeds import (
    FeedSpec,
    Link,
    all_feed_spec,
    category_feed_spec,
    feed_url,
    format_link,
    plan_feeds,
    render_atom,
    render_json,
    render_outputs,
    render_rss,
)
from syndicate.model import Article, Author, Category, Image, SourceRef
from syndicate.xmlutil import clean_text

T0 = datetime(2025, 3, 3, 7, 30, tzinfo=UTC)
CONTROL = "\x01\x0b\x1f\ufffe"


def make_config(tmp_path: Path, **feeds: Any) -> Config:
    raw: dict[str, Any] = {
        "site": {
            "title": "The Brussels Ledger",
            "url": "https://ledger.example.eu/",
            "description": "Europe, weekly & daily",
            "language": "en",
            "author": "Ledger Desk",
        },
        "categories": {"EU policy": {"order": 1, "description": "Inside the institutions"}, "Opinion": {"order": 9}},
        "sources": [{"name": "Wire", "url": "https://wire.example.net/feed.xml"}],
    }
    if feeds:
        raw["feeds"] = feeds
    return parse_config(raw, tmp_path / "syndicate.toml")


def article(n: int, **fields: Any) -> Article:
    published = fields.pop("published", T0 - timedelta(hours=n))
    values: dict[str, Any] = {
        "key": f"id:a{n}",
        "id": f"a{n}",
        "feed_id": f"tag:ledger.example.eu,2025:a{n}",
        "title": f"Article {n}",
        "url": f"https://ledger.example.eu/eu-policy/a{n}/",
        "slug": f"a{n}",
        "published": published,
        "updated": fields.pop("updated", published),
        "categories": ("EU policy",),
        "summary": f"Summary of article {n}.",
        "content_html": f"<p>Body of article {n}.</p>",
    }
    values.update(fields)
    return Article(**values)


WIRE = SourceRef(
    name="Wire",
    feed_url="https://wire.example.net/feed.xml",
    site_url="https://wire.example.net/",
    feed_id="urn:uuid:8d2c8f3e-0000-4000-8000-000000000001",
    feed_title="Wire — Europe desk",
)


def fixture_articles() -> list[Article]:
    return [
        article(
            1,
            title="Économie : «quo vadis», Europa? — Türkiye, Азербайджан, 中国",
            categories=("Économie", "EU policy"),
            tags=("budget", "Économie"),
            authors=(Author("Zoë Ångström", "zoe@ledger.example.eu", "https://ledger.example.eu/zoe/"),),
            content_html='<p>The ]]> marker &amp; <a href="https://ledger.example.eu/x/">a link</a>, ünïcödé.</p>',
            image=Image("https://ledger.example.eu/img/1.jpg", alt="A chart", width=1200, height=630, length=48213),
            updated=T0 + timedelta(minutes=20),
        ),
        article(
            2,
            title=f"A & B <script>alert('x')</script> {CONTROL}&amp;",
            summary=f"Control{CONTROL} characters pasted from a word processor.",
            content_html=f"<p>Para{CONTROL}graph</p>",
            authors=(Author("Anonymous Reporter"),),
        ),
        article(
            3,
            authors=(Author("Ana", "ana@ledger.example.eu"), Author("Bo"), Author("Cy", "cy@ledger.example.eu")),
            image=Image("https://cdn.example.eu/render?id=3"),
            categories=("Türkiye", "Азербайджан"),
            language="tr",
        ),
        article(4, categories=("Азербайджан",)),  # no authors: the site's default author
        article(
            5,
            key="src:Wire:55",
            feed_id="https://wire.example.net/stories/55",
            url="https://wire.example.net/stories/55",
            title="Outside: ministers meet",
            content_html=None,
            source=WIRE,
        ),
        article(
            6,
            key="src:Wire:66",
            feed_id="https://wire.example.net/stories/66",
            url="https://wire.example.net/stories/66",
            title="Outside with an author",
            authors=(Author("Wire Staff"),),
            source=replace(WIRE, feed_id=None, feed_title=None, site_url=None),
            categories=("Économie",),
        ),
        # Same instant as article 7: the order falls back to the feed id.
        article(7, published=T0 - timedelta(days=3)),
        article(8, published=T0 - timedelta(days=3), summary=""),
    ]


def fixture_plan(config: Config, articles: list[Article] | None = None) -> list[tuple[FeedSpec, tuple[Article, ...]]]:
    articles = fixture_articles() if articles is None else articles
    names = {n for a in articles for n in a.categories} | {"Opinion"}
    return plan_feeds(config, articles, build_categories(config, sorted(names), {}))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, hub="https://hub.example.net/")


@pytest.fixture
def outputs(config: Config) -> dict[str, bytes]:
    return render_outputs(config, fixture_plan(config))


# --- validity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stylesheet", [True, False])
@pytest.mark.parametrize("content", ["full", "summary"])
def test_every_output_is_valid(tmp_path: Path, stylesheet: bool, content: str) -> None:
    config = make_config(tmp_path, stylesheet=stylesheet, content=content, hub="https://hub.example.net/")
    outputs = render_outputs(config, fixture_plan(config))
    feeds = [p for p in outputs if p.endswith((".rss", ".atom", ".json"))]
    # all + EU policy, Économie, Opinion, Türkiye, Азербайджан: six feeds, three formats each.
    assert len(feeds) == 18
    assert all_problems(outputs.items()) == {}
    for path in feeds:
        assert (b"<?xml-stylesheet" in outputs[path]) == (stylesheet and not path.endswith(".json"))
    assert ("feed.xsl" in outputs) == stylesheet


def test_outputs_round_trip_through_feedparser_with_the_same_items(config: Config) -> None:
    plan = fixture_plan(config)
    outputs = render_outputs(config, plan)
    for spec, items in plan:
        expected = [
            {
                "title": clean_text(a.title),
                "link": a.url,
                "id": a.feed_id,
                "published": a.published,
                "updated": max(a.updated, a.published),
            }
            for a in items
        ]
        atom = feedparser_items(outputs[f"{spec.slug}.atom"], "atom10")
        assert atom == expected, spec.slug
        rss = feedparser_items(outputs[f"{spec.slug}.rss"], "rss20")
        # RSS has no per-item update time.
        assert rss == [{**e, "updated": None} for e in expected], spec.slug
        doc = json.loads(outputs[f"{spec.slug}.json"])
        seen = [
            {
                "title": i["title"],
                "link": i["url"],
                "id": i["id"],
                "published": datetime.fromisoformat(i["date_published"]),
                "updated": datetime.fromisoformat(i["date_modified"]),
            }
            for i in doc["items"]
        ]
        assert seen == expected, spec.slug


def test_every_category_gets_a_feed_and_an_empty_one_is_still_valid(config: Config) -> None:
    plan = fixture_plan(config)
    by_slug = {spec.slug: items for spec, items in plan}
    assert set(by_slug) == {"all", "eu-policy", "opinion", "economie", "turkiye", "azerbaydzhan"}
    assert by_slug["opinion"] == ()
    outputs = render_outputs(config, plan)
    atom = parse_xml(outputs["opinion.atom"])
    # The required <updated> is a fixed date, never the build time.
    assert atom.findtext(f"{A}updated") == "1970-01-01T00:00:00Z"
    assert parse_xml(outputs["opinion.rss"]).find("channel/lastBuildDate") is None
    assert json.loads(outputs["opinion.json"])["items"] == []
    assert not atom_problems(outputs["opinion.atom"]) and not rss2_problems(outputs["opinion.rss"])


def test_items_newest_first_membership_and_limit(tmp_path: Path) -> None:
    config = make_config(tmp_path, items=3)
    plan = dict((spec.slug, items) for spec, items in fixture_plan(config))
    assert [a.id for a in plan["all"]] == ["a1", "a2", "a3"]
    # Outside items go in their categories (and the all feed); an article in every category it lists.
    assert [a.id for a in plan["economie"]] == ["a1", "a6"]
    assert [a.id for a in plan["azerbaydzhan"]] == ["a3", "a4"]
    config = make_config(tmp_path)
    full = dict((spec.slug, items) for spec, items in fixture_plan(config))
    assert [a.id for a in full["all"]] == ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"]
    assert [a.id for a in full["eu-policy"]] == ["a1", "a2", "a5", "a7", "a8"]


def test_outside_items_stay_out_of_the_all_feed_when_their_source_says_so(tmp_path: Path) -> None:
    raw: dict[str, Any] = {
        "site": {"title": "L", "url": "https://ledger.example.eu/"},
        "sources": [{"name": "Wire", "url": "https://wire.example.net/feed.xml", "all_feed": False}],
    }
    config = parse_config(raw, tmp_path / "syndicate.toml")
    plan = dict((spec.slug, items) for spec, items in fixture_plan(config))
    assert "a5" not in [a.id for a in plan["all"]]
    assert "a5" in [a.id for a in plan["eu-policy"]]


def test_duplicate_feed_ids_appear_once(config: Config) -> None:
    articles = [*fixture_articles(), replace(fixture_articles()[0], key="file:other.md", title="Copy")]
    plan = dict((spec.slug, items) for spec, items in fixture_plan(config, articles))
    ids = [a.feed_id for a in plan["all"]]
    assert len(ids) == len(set(ids)) == 8


# --- determinism ------------------------------------------------------------------------------


def test_output_is_byte_identical_for_shuffled_input(config: Config) -> None:
    expected = render_outputs(config, fixture_plan(config))
    for seed in range(5):
        articles = fixture_articles()
        random.Random(seed).shuffle(articles)
        names = sorted({n for a in articles for n in a.categories} | {"Opinion"})
        random.Random(seed).shuffle(names)
        categories = build_categories(config, names, {})
        assert render_outputs(config, plan_feeds(config, articles, categories)) == expected


def test_feed_updated_is_the_newest_item_update_not_the_build_time(config: Config, outputs: dict[str, bytes]) -> None:
    newest = T0 + timedelta(minutes=20)  # article 1's update time
    assert parse_xml(outputs["all.atom"]).findtext(f"{A}updated") == "2025-03-03T07:50:00Z"
    assert parse_rfc822(parse_xml(outputs["all.rss"]).findtext("channel/lastBuildDate")) == newest
    assert b"2026" not in outputs["all.atom"] + outputs["all.rss"]


# --- item content -----------------------------------------------------------------------------


def test_titles_are_plain_text_escaped_and_cleaned(outputs: dict[str, bytes]) -> None:
    expected = "A & B <script>alert('x')</script> &amp;"
    for fmt in ("rss", "atom"):
        data = outputs[f"all.{fmt}"]
        assert b"<script>" not in data
        titles = [e.title for e in feedparser.parse(data).entries]
        assert expected in titles, fmt
    assert expected in [i["title"] for i in json.loads(outputs["all.json"])["items"]]
    for path, data in outputs.items():
        text = data.decode("utf-8")
        assert not any(c in text for c in CONTROL), path


def test_body_with_cdata_terminator_survives(outputs: dict[str, bytes]) -> None:
    needle = "The ]]> marker &amp; <a href"
    for fmt in ("rss", "atom"):
        entry = feedparser.parse(outputs[f"all.{fmt}"]).entries[0]
        assert [c.value for c in entry.content if needle in c.value], fmt
    assert needle in json.loads(outputs["all.json"])["items"][0]["content_html"]


def test_summary_mode_leaves_the_body_out(tmp_path: Path) -> None:
    config = make_config(tmp_path, content="summary")
    outputs = render_outputs(config, fixture_plan(config))
    assert b"content:encoded" not in outputs["all.rss"]
    assert b"<content" not in outputs["all.atom"]
    items = json.loads(outputs["all.json"])["items"]
    assert "content_html" not in items[0] and items[0]["content_text"] == items[0]["summary"]
    # An item without a summary still has the required content_text.
    assert items[-1]["id"].endswith("a8") and items[-1]["content_text"] == "Article 8"


def test_rss_author_needs_an_email_else_dc_creator(outputs: dict[str, bytes]) -> None:
    channel = parse_xml(outputs["all.rss"]).find("channel")
    items = {i.findtext("guid").rsplit(":", 1)[-1]: i for i in channel.findall("item")}
    dc = "{http://purl.org/dc/elements/1.1/}creator"
    assert items["a1"].findtext("author") == "zoe@ledger.example.eu (Zoë Ångström)"
    assert items["a2"].find("author") is None and items["a2"].findtext(dc) == "Anonymous Reporter"
    assert items["a3"].findtext("author") == "ana@ledger.example.eu (Ana)"
    assert [e.text for e in items["a3"].findall(dc)] == ["Bo", "Cy"]
    assert items["a4"].findtext(dc) == "Ledger Desk"


def test_atom_every_entry_has_an_author(outputs: dict[str, bytes]) -> None:
    feed = parse_xml(outputs["all.atom"])
    assert feed.find(f"{A}author") is None
    names = {
        e.findtext(f"{A}id"): [a.findtext(f"{A}name") for a in e.findall(f"{A}author")] for e in feed.iter(f"{A}entry")
    }
    assert names["tag:ledger.example.eu,2025:a4"] == ["Ledger Desk"]
    assert names["https://wire.example.net/stories/55"] == ["Wire"]
    assert names["tag:ledger.example.eu,2025:a3"] == ["Ana", "Bo", "Cy"]


def test_ids_are_the_pinned_feed_ids_verbatim(outputs: dict[str, bytes]) -> None:
    guids = parse_xml(outputs["all.rss"]).findall("channel/item/guid")
    assert guids[0].text == "tag:ledger.example.eu,2025:a1" and guids[0].get("isPermaLink") == "false"
    ids = [e.findtext(f"{A}id") for e in parse_xml(outputs["all.atom"]).iter(f"{A}entry")]
    assert ids == [g.text for g in guids] == [i["id"] for i in json.loads(outputs["all.json"])["items"]]


def test_images_in_every_format(outputs: dict[str, bytes]) -> None:
    channel = parse_xml(outputs["all.rss"]).find("channel")
    first, third = channel.findall("item")[0], channel.findall("item")[2]
    enclosure = first.find("enclosure")
    assert enclosure.attrib == {"url": "https://ledger.example.eu/img/1.jpg", "length": "48213", "type": "image/jpeg"}
    media = first.find("{http://search.yahoo.com/mrss/}content")
    assert (media.get("medium"), media.get("width"), media.get("height")) == ("image", "1200", "630")
    # Type unknown (no extension): no enclosure, which needs one, but media:content still names the image.
    assert third.find("enclosure") is None
    assert third.find("{http://search.yahoo.com/mrss/}content").get("url") == "https://cdn.example.eu/render?id=3"
    entry = parse_xml(outputs["all.atom"]).find(f"{A}entry")
    link = next(x for x in entry.findall(f"{A}link") if x.get("rel") == "enclosure")
    assert (link.get("href"), link.get("type"), link.get("length")) == (enclosure.get("url"), "image/jpeg", "48213")
    parsed = feedparser.parse(outputs["all.rss"]).entries[0]
    assert parsed.enclosures[0].href == "https://ledger.example.eu/img/1.jpg"
    assert json.loads(outputs["all.json"])["items"][0]["image"] == "https://ledger.example.eu/img/1.jpg"


def test_categories_and_tags(outputs: dict[str, bytes]) -> None:
    rss_first = parse_xml(outputs["all.rss"]).find("channel/item")
    assert [c.text for c in rss_first.findall("category")] == ["Économie", "EU policy", "budget"]
    atom_first = parse_xml(outputs["all.atom"]).find(f"{A}entry")
    assert [c.get("term") for c in atom_first.findall(f"{A}category")] == ["Économie", "EU policy", "budget"]
    assert json.loads(outputs["all.json"])["items"][0]["tags"] == ["Économie", "EU policy", "budget"]


def test_outside_items_carry_their_source(outputs: dict[str, bytes]) -> None:
    rss_items = parse_xml(outputs["all.rss"]).findall("channel/item")
    outside = [i for i in rss_items if i.find("source") is not None]
    assert [(i.findtext("source"), i.find("source").get("url"), i.findtext("link")) for i in outside] == [
        ("Wire — Europe desk", "https://wire.example.net/feed.xml", "https://wire.example.net/stories/55"),
        ("Wire", "https://wire.example.net/feed.xml", "https://wire.example.net/stories/66"),
    ]
    entries = [e for e in parse_xml(outputs["all.atom"]).iter(f"{A}entry") if e.find(f"{A}source") is not None]
    source = entries[0].find(f"{A}source")
    assert source.findtext(f"{A}id") == WIRE.feed_id and source.findtext(f"{A}title") == "Wire — Europe desk"
    assert {x.get("rel"): x.get("href") for x in source.findall(f"{A}link")} == {
        "self": "https://wire.example.net/feed.xml",
        "alternate": "https://wire.example.net/",
    }
    assert entries[1].find(f"{A}source").find(f"{A}id") is None
    parsed = feedparser.parse(outputs["all.atom"]).entries[4]
    assert parsed.source.title == "Wire — Europe desk"
    items = {i["id"]: i for i in json.loads(outputs["all.json"])["items"]}
    wire = items["https://wire.example.net/stories/55"]
    assert wire["authors"] == [{"name": "Wire", "url": "https://wire.example.net/"}]
    assert wire["_source"] == {
        "name": "Wire",
        "feed_url": "https://wire.example.net/feed.xml",
        "home_page_url": "https://wire.example.net/",
        "title": "Wire — Europe desk",
        "id": WIRE.feed_id,
    }
    assert items["https://wire.example.net/stories/66"]["authors"] == [{"name": "Wire Staff"}]


# --- feed level -------------------------------------------------------------------------------


def test_feed_level_links_titles_and_generator(config: Config, outputs: dict[str, bytes]) -> None:
    rss = parse_xml(outputs["economie.rss"]).find("channel")
    assert rss.findtext("title") == "The Brussels Ledger — Économie"
    assert rss.findtext("link") == "https://ledger.example.eu/category/economie/"
    assert rss.findtext("generator") == "syndicate"
    links = {x.get("rel"): x.get("href") for x in rss.findall(f"{A}link")}
    assert links == {"self": "https://ledger.example.eu/feeds/economie.rss", "hub": "https://hub.example.net/"}
    atom = parse_xml(outputs["economie.atom"])
    links = {x.get("rel"): x.get("href") for x in atom.findall(f"{A}link")}
    assert links == {
        "self": "https://ledger.example.eu/feeds/economie.atom",
        "alternate": "https://ledger.example.eu/category/economie/",
        "hub": "https://hub.example.net/",
    }
    assert atom.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert atom.findtext(f"{A}generator") == "syndicate"
    doc = json.loads(outputs["economie.json"])
    assert doc["feed_url"] == "https://ledger.example.eu/feeds/economie.json"
    assert doc["home_page_url"] == "https://ledger.example.eu/category/economie/"
    assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.example.net/"}]
    all_rss = parse_xml(outputs["all.rss"]).find("channel")
    assert all_rss.findtext("title") == "The Brussels Ledger — All articles"
    assert all_rss.findtext("link") == "https://ledger.example.eu/"
    eu = parse_xml(outputs["eu-policy.rss"]).find("channel")
    assert eu.findtext("description") == "Inside the institutions"


def test_no_hub_link_without_a_hub(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    outputs = render_outputs(config, fixture_plan(config))
    assert b'rel="hub"' not in outputs["all.rss"] + outputs["all.atom"]
    assert "hubs" not in json.loads(outputs["all.json"])


def test_formats_setting_limits_the_files(tmp_path: Path) -> None:
    config = make_config(tmp_path, formats=["atom"], stylesheet=False)
    outputs = render_outputs(config, fixture_plan(config))
    assert sorted(p for p in outputs if not p.startswith("index.")) == sorted(
        f"{s}.atom" for s in ("all", "eu-policy", "opinion", "economie", "turkiye", "azerbaydzhan")
    )
    opml = parse_xml(outputs["index.opml"])
    assert opml.find("body/outline").get("xmlUrl") == "https://ledger.example.eu/feeds/all.atom"


def test_feeds_url_setting(tmp_path: Path) -> None:
    config = make_config(tmp_path, url="https://cdn.example.eu/f")
    spec = all_feed_spec(config)
    assert feed_url(config, spec, "rss") == "https://cdn.example.eu/f/all.rss"
    assert feed_url(config, replace(spec, path_prefix="archive/all/", slug="1"), "json") == (
        "https://cdn.example.eu/f/archive/all/1.json"
    )


# --- RFC 5005 hooks ---------------------------------------------------------------------------


def test_archive_documents_links_and_marks(config: Config) -> None:
    category = Category(name="EU policy", slug="eu-policy", title="EU policy")
    current = category_feed_spec(config, category)
    older = replace(current, slug="1", path_prefix="archive/eu-policy/", archive=True)
    page = replace(
        current,
        slug="2",
        path_prefix="archive/eu-policy/",
        archive=True,
        links=(format_link(config, "current", current), format_link(config, "prev-archive", older)),
    )
    items = tuple(fixture_articles()[6:])
    rss, atom, feed = (
        render_rss(config, page, items),
        render_atom(config, page, items),
        render_json(config, page, items),
    )
    assert not rss2_problems(rss) and not atom_problems(atom) and not jsonfeed_problems(feed)
    fh = "{http://purl.org/syndication/history/1.0}archive"
    assert parse_xml(rss).find(f"channel/{fh}") is not None
    assert parse_xml(atom).find(fh) is not None
    rss_links = {x.get("rel"): (x.get("href"), x.get("type")) for x in parse_xml(rss).findall(f"channel/{A}link")}
    assert rss_links["prev-archive"] == (
        "https://ledger.example.eu/feeds/archive/eu-policy/1.rss",
        "application/rss+xml",
    )
    assert rss_links["current"] == ("https://ledger.example.eu/feeds/eu-policy.rss", "application/rss+xml")
    assert rss_links["self"][0] == "https://ledger.example.eu/feeds/archive/eu-policy/2.rss"
    atom_links = {x.get("rel"): x.get("href") for x in parse_xml(atom).findall(f"{A}link")}
    assert atom_links["prev-archive"] == "https://ledger.example.eu/feeds/archive/eu-policy/1.atom"
    # Archive documents share the subscription feed's id.
    assert parse_xml(atom).findtext(f"{A}id") == parse_xml(render_atom(config, current, items)).findtext(f"{A}id")
    assert json.loads(feed)["next_url"] == "https://ledger.example.eu/feeds/archive/eu-policy/1.json"
    # The stylesheet reference climbs out of the archive folder.
    assert b'href="../../feed.xsl"' in rss and b'href="../../feed.xsl"' in atom
    assert not feedparser.parse(rss).bozo and not feedparser.parse(atom).bozo

    plan = [(current, items), (page, items)]
    outputs = render_outputs(config, plan)
    assert "archive/eu-policy/2.atom" in outputs
    assert b"archive/" not in outputs["index.opml"] and b"archive/" not in outputs["index.html"]


def test_complete_feed_mark_and_plain_links(config: Config) -> None:
    spec = replace(all_feed_spec(config), complete=True, links=(Link("related", "https://ledger.example.eu/about/"),))
    atom = render_atom(config, spec, ())
    root = parse_xml(atom)
    assert root.find("{http://purl.org/syndication/history/1.0}complete") is not None
    assert [x.get("href") for x in root.findall(f"{A}link") if x.get("rel") == "related"] == [
        "https://ledger.example.eu/about/"
    ]
    assert not atom_problems(atom)


# --- OPML, index page, stylesheet ------------------------------------------------------------


def test_opml_lists_every_feed(config: Config, outputs: dict[str, bytes]) -> None:
    opml = parse_xml(outputs["index.opml"])
    assert opml.tag == "opml" and opml.get("version") == "2.0"
    assert opml.findtext("head/title") == "The Brussels Ledger — feeds"
    outlines = opml.findall("body/outline")
    plan = fixture_plan(config)
    assert [o.get("xmlUrl") for o in outlines] == [feed_url(config, spec, "rss") for spec, _ in plan]
    assert all(o.get("type") == "rss" and o.get("text") and o.get("htmlUrl") for o in outlines)
    parse_rfc822(opml.findtext("head/dateModified"))


def test_index_page_has_autodiscovery_links(config: Config, outputs: dict[str, bytes]) -> None:
    page = lxml.html.fromstring(outputs["index.html"])
    alternates = page.xpath("//head/link[@rel='alternate']")
    assert len(alternates) == 6 * 3
    assert {(x.get("type"), x.get("href")) for x in alternates} >= {
        ("application/rss+xml", "https://ledger.example.eu/feeds/economie.rss"),
        ("application/atom+xml", "https://ledger.example.eu/feeds/all.atom"),
        ("application/feed+json", "https://ledger.example.eu/feeds/azerbaydzhan.json"),
    }
    assert "The Brussels Ledger — Économie (RSS)" in [x.get("title") for x in alternates]
    assert page.xpath("//a[@href='https://ledger.example.eu/feeds/index.opml']")
    assert b"Europe, weekly &amp; daily" in outputs["index.html"]


def test_index_page_and_stylesheet_can_be_overridden(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "feeds-index.html").write_text("{% for f in feeds %}{{ f.title }}\n{% endfor %}")
    (tmp_path / "templates" / "feed.xsl").write_bytes(b"<mine/>")
    config = make_config(tmp_path)
    outputs = render_outputs(config, fixture_plan(config))
    assert outputs["index.html"].decode().splitlines()[0] == "The Brussels Ledger — All articles"
    assert outputs["feed.xsl"] == b"<mine/>"


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_stylesheet_renders_the_feed_as_a_page(outputs: dict[str, bytes], fmt: str) -> None:
    transform = etree.XSLT(etree.fromstring(outputs["feed.xsl"]))
    page = transform(etree.fromstring(outputs[f"all.{fmt}"]))
    text = str(page)
    assert "copy this URL into your feed reader" in text
    assert f"https://ledger.example.eu/feeds/all.{fmt}" in text
    html = lxml.html.fromstring(text)
    titles = [a.text_content() for a in html.xpath("//ol/li/a")]
    assert titles[1] == "A & B <script>alert('x')</script> &amp;"
    assert len(titles) == 8
    assert not html.xpath("//script")


def test_rss_description_is_the_summary_as_html_text(config: Config) -> None:
    summary = "Quoting <script>alert(1)</script> & <b>tags</b>: x < y"
    articles = [article(1, summary=summary)]
    rss = render_outputs(config, fixture_plan(config, articles))["all.rss"]
    assert not rss2_problems(rss)
    description = parse_xml(rss).findtext("channel/item/description")
    # A reader renders it as HTML and shows exactly the summary text.
    assert lxml.html.fragment_fromstring(description, create_parent="p").text_content() == summary
    assert (
        json.loads(render_outputs(config, fixture_plan(config, articles))["all.json"])["items"][0]["summary"] == summary
    )
    atom = parse_xml(render_outputs(config, fixture_plan(config, articles))["all.atom"])
    assert atom.findtext(f"{A}entry/{A}summary") == summary


def test_checker_catches_broken_feeds() -> None:
    # The checks must be able to fail: hand-broken documents, one rule each.
    rss = (
        b'<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>'
        b"<link>https://x.example/</link><description>d</description>"
        b"<item><title>a</title><guid>g</guid><pubDate>Fri, 05 Nov 2025 09:00:00 GMT</pubDate></item>"
        b"<item><title>b</title><guid isPermaLink='false'>g</guid><author>Ana</author></item></channel></rss>"
    )
    problems = " | ".join(rss2_problems(rss))
    for expected in ("rel=self", "not a Fri", "permalink guid 'g'", "duplicate guid 'g'", "'Ana' is not an email"):
        assert expected in problems
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>t</title><updated>2025-01-01T00:00:00</updated>'
        b"<entry><id>e</id><title>x</title><updated>2025-01-01T00:00:00Z</updated></entry></feed>"
    )
    problems = " | ".join(atom_problems(atom))
    for expected in ("not RFC 3339", "no atom:author", "not an absolute IRI", "neither atom:content nor", "rel=self"):
        assert expected in problems
    bad_json = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [{"id": "1"}, {"id": "1", "x": 1}]}'
    )
    problems = " | ".join(jsonfeed_problems(bad_json))
    for expected in ("needs content_html or content_text", "unknown key 'x'", "duplicate item id '1'"):
        assert expected in problems


@pytest.mark.parametrize(
    ("url", "given", "expected"),
    [
        ("https://cdn.example.eu/a/photo.WEBP?w=800", None, "image/webp"),
        ("https://cdn.example.eu/a/photo.png", None, "image/png"),
        ("https://cdn.example.eu/a.b/photo", None, None),
        ("https://cdn.example.eu/a/photo.jpg", "image/avif", "image/avif"),
    ],
)
def test_enclosure_type_from_record_or_extension(
    config: Config, url: str, given: str | None, expected: str | None
) -> None:
    rss = render_rss(config, all_feed_spec(config), (article(1, image=Image(url, type=given)),))
    enclosure = parse_xml(rss).find("channel/item/enclosure")
    assert (enclosure.get("type") if enclosure is not None else None) == expected
    assert not rss2_problems(rss)
