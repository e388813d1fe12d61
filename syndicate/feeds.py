"""Feed rendering: RSS 2.0, Atom 1.0, JSON Feed 1.1, OPML 2.0 and the human feed index.

Every function here is pure: articles and config in, bytes out, no clock and no disk. The
same input (in any order) always gives the same bytes, so an unchanged rebuild changes nothing.

The XML is written with lxml directly rather than with feedgen: feedgen 1.0 stamps now() into
``updated``/``lastBuildDate`` of feeds and entries, drops every RSS ``atom:link`` except ``self``
(we need ``hub`` and the RFC 5005 archive links), cannot write ``<source>``, ``fh:archive`` or an
``xml-stylesheet`` instruction, and has no JSON Feed. Post-processing its output would touch
nearly every element, so we build the trees ourselves and keep full control of order and escaping.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from urllib.parse import urljoin, urlsplit

import jinja2
from lxml import etree

from .config import Config
from .model import Article, Author, Category, Image, sort_key
from .xmlutil import EPOCH, clean_text, rfc822, rfc3339

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
FH_NS = "http://purl.org/syndication/history/1.0"

EXTENSIONS = {"rss": ".rss", "atom": ".atom", "json": ".json"}
MEDIA_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml", "json": "application/feed+json"}
FORMAT_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "syndicate"
"""No version number: upgrading syndicate must not change every feed's bytes."""
STYLESHEET_NAME = "feed.xsl"
INDEX_TEMPLATE = "feeds-index.html"
EXT_PLACEHOLDER = "{ext}"
"""In ``Link.href``: replaced by each format's extension, so one Link serves RSS, Atom and JSON."""

_XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


@dataclass(frozen=True)
class Link:
    """An extra feed-level link (RFC 5005 ``prev-archive``/``next-archive``/``current``, ...).

    ``href`` may contain ``{ext}`` (see ``format_link``); ``type`` then defaults to the media type
    of the format being written.
    """

    rel: str
    href: str
    type: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class FeedSpec:
    """One feed document to write, in every configured format."""

    slug: str
    """File stem: outputs are ``<path_prefix><slug>.rss``/``.atom``/``.json`` in the output folder."""
    title: str
    description: str
    home_url: str
    """The feed's alternate link: the category page on the site (or the site itself)."""
    category: Category | None
    """None for the all-articles feed."""
    path_prefix: str = ""
    links: tuple[Link, ...] = ()
    archive: bool = False
    """An RFC 5005 archive document: marked ``fh:archive``, left out of the OPML and index page."""
    complete: bool = False
    """RFC 5005 complete feed: marked ``fh:complete``."""


FeedPlan = list[tuple[FeedSpec, tuple[Article, ...]]]


def feed_url(config: Config, spec: FeedSpec, fmt: str) -> str:
    """Public URL of ``spec`` in format ``fmt`` (``rss``, ``atom``, ``json``; ``{ext}`` keeps a placeholder)."""
    ext = EXT_PLACEHOLDER if fmt == EXT_PLACEHOLDER else EXTENSIONS[fmt]
    return config.feeds_url + feed_path(spec, ext)


def feed_path(spec: FeedSpec, ext: str) -> str:
    """Path of ``spec``'s file relative to the output folder, for an extension such as ``.rss``."""
    return f"{spec.path_prefix}{spec.slug}{ext}"


def format_link(config: Config, rel: str, target: FeedSpec, title: str | None = None) -> Link:
    """A Link to ``target`` that points at the same format in every document it appears in."""
    return Link(rel=rel, href=feed_url(config, target, EXT_PLACEHOLDER), title=title)


def category_url(config: Config, category: Category) -> str:
    """The category's page on the site: ``feeds.category_url`` filled in, against the site URL."""
    pattern = config.feeds.category_url
    return urljoin(config.site.url, pattern.replace("{slug}", category.slug))


def plan_feeds(config: Config, articles: Sequence[Article], categories: Sequence[Category]) -> FeedPlan:
    """Return the all-articles feed (if configured) and one feed per category, with their items.

    Items are newest first (``model.sort_key``), unique by feed id and cut to ``feeds.items``.
    An article is in every listed category's feed; outside items too, and in the all feed unless
    their source says ``all_feed = false``. A category without items still gets an (empty) feed.
    """
    ordered = _dedupe(sorted(articles, key=_total_key))
    limit = config.feeds.items
    # One pass over the articles fills every bucket: 100,000 records x 40 categories stays cheap.
    buckets: dict[str, list[Article]] = {c.name: [] for c in categories}
    in_all: list[Article] = []
    for article in ordered:
        if len(in_all) < limit and _source_in_all_feed(config, article):
            in_all.append(article)
        for name in dict.fromkeys(article.categories):
            bucket = buckets.get(name)
            if bucket is not None and len(bucket) < limit:
                bucket.append(article)
    plan: FeedPlan = []
    if config.feeds.all_feed:
        plan.append((all_feed_spec(config), tuple(in_all)))
    for category in categories:
        plan.append((category_feed_spec(config, category), tuple(buckets[category.name])))
    return plan


def all_feed_spec(config: Config) -> FeedSpec:
    """The subscription spec of the all-articles feed."""
    site = config.site
    return FeedSpec(
        slug=config.feeds.all_slug,
        title=f"{site.title} — {config.feeds.all_title}",
        description=site.description or f"{config.feeds.all_title} from {site.title}",
        home_url=site.url,
        category=None,
    )


def category_feed_spec(config: Config, category: Category) -> FeedSpec:
    """The subscription spec of one category's feed."""
    site = config.site
    return FeedSpec(
        slug=category.slug,
        title=f"{site.title} — {category.title}",
        description=category.description or f"{category.title} from {site.title}",
        home_url=category_url(config, category),
        category=category,
    )


def _total_key(article: Article) -> tuple[float, str, str, str]:
    return (*sort_key(article), article.key, article.url)


def _dedupe(articles: Iterable[Article]) -> list[Article]:
    # Two items with one feed id would collapse into one in every reader; keep the newest.
    seen: set[str] = set()
    unique = []
    for article in articles:
        if article.feed_id not in seen:
            seen.add(article.feed_id)
            unique.append(article)
    return unique


def _source_in_all_feed(config: Config, article: Article) -> bool:
    if article.source is None:
        return True
    for source in config.sources:
        if source.name == article.source.name:
            return source.all_feed
    return True


# --- shared item data -------------------------------------------------------------------------


def feed_updated(items: Sequence[Article]) -> datetime | None:
    """The newest update time among ``items`` (never the build time); None for an empty feed."""
    return max((max(a.updated, a.published) for a in items), default=None)


def _title(article: Article) -> str:
    title = clean_text(article.title).strip()
    if title:
        return title
    summary = clean_text(article.summary).strip()
    return (summary[:80].rsplit(" ", 1)[0] + "…") if len(summary) > 80 else (summary or article.url)


def _content_html(config: Config, article: Article) -> str | None:
    if config.feeds.content != "full" or not article.content_html:
        return None
    return clean_text(article.content_html)


def _authors(config: Config, article: Article) -> tuple[Author, ...]:
    # Every entry names an author, so Atom's "feed or every entry has an author" always holds and
    # an outside item is never credited to this site.
    authors = tuple(a for a in article.authors if clean_text(a.name).strip())
    if authors:
        return authors
    if article.source is not None:
        return (Author(name=article.source.name, url=article.source.site_url),)
    site = config.site
    return (Author(name=site.author or site.title, email=site.author_email or None),)


def _terms(article: Article) -> list[str]:
    terms: list[str] = []
    for term in (*article.categories, *article.tags):
        term = clean_text(term).strip()
        if term and term not in terms:
            terms.append(term)
    return terms


# Our own table, not the mimetypes module: that one reads /etc/mime.types, so the same record
# could get a different enclosure type (and different bytes) on another machine.
IMAGE_TYPES = {
    ".avif": "image/avif",
    ".bmp": "image/bmp",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".ico": "image/vnd.microsoft.icon",
    ".jpe": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".jxl": "image/jxl",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
}


def _image_type(image: Image) -> str | None:
    if image.type:
        return image.type
    path = urlsplit(image.url).path
    dot = path.rfind(".")
    return IMAGE_TYPES.get(path[dot:].lower()) if dot > path.rfind("/") else None


def _links(spec: FeedSpec, fmt: str) -> list[Link]:
    links = []
    for link in spec.links:
        if EXT_PLACEHOLDER in link.href:
            link = Link(
                rel=link.rel,
                href=link.href.replace(EXT_PLACEHOLDER, EXTENSIONS[fmt]),
                type=link.type or MEDIA_TYPES[fmt],
                title=link.title,
            )
        links.append(link)
    return links


def _stylesheet_href(spec: FeedSpec) -> str:
    # Relative, so the page also renders from a local copy; archive documents sit deeper.
    return "../" * spec.path_prefix.count("/") + STYLESHEET_NAME


def _logo(config: Config) -> str | None:
    return urljoin(config.site.url, config.site.logo) if config.site.logo else None


def _serialize(root: etree._Element, config: Config, spec: FeedSpec) -> bytes:
    if config.feeds.stylesheet:
        pi = etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{_stylesheet_href(spec)}"')
        root.addprevious(pi)
    body: bytes = etree.tostring(root.getroottree(), encoding="utf-8", xml_declaration=False, pretty_print=True)
    return _XML_DECLARATION + body


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    element = etree.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrib.items()})
    if text is not None:
        element.text = clean_text(text)
    return element


def _nsmap(spec: FeedSpec, base: dict[str | None, str]) -> dict[str | None, str]:
    if spec.archive or spec.complete:
        return {**base, "fh": FH_NS}
    return base


def _history_marks(parent: etree._Element, spec: FeedSpec) -> None:
    if spec.complete:
        _sub(parent, f"{{{FH_NS}}}complete")
    if spec.archive:
        _sub(parent, f"{{{FH_NS}}}archive")


# --- RSS 2.0 ----------------------------------------------------------------------------------


def render_rss(config: Config, spec: FeedSpec, items: Sequence[Article]) -> bytes:
    """RSS 2.0 with ``atom:link`` self/hub/archive links, content:encoded, dc:creator and media:content."""
    atom = f"{{{ATOM_NS}}}"
    nsmap = _nsmap(spec, {"atom": ATOM_NS, "content": CONTENT_NS, "dc": DC_NS, "media": MEDIA_NS})
    rss = etree.Element("rss", {"version": "2.0"}, nsmap=nsmap)
    channel = _sub(rss, "channel")
    _sub(channel, "title", spec.title)
    _sub(channel, "link", spec.home_url)
    _sub(channel, "description", spec.description or spec.title)
    if config.site.language:
        _sub(channel, "language", config.site.language)
    updated = feed_updated(items)
    if updated is not None:
        # Omitted for an empty feed rather than invented: an empty feed never changes either.
        _sub(channel, "lastBuildDate", rfc822(updated))
    _sub(channel, "generator", GENERATOR)
    _sub(channel, "docs", "https://www.rssboard.org/rss-specification")
    logo = _logo(config)
    if logo:
        image = _sub(channel, "image")
        _sub(image, "url", logo)
        _sub(image, "title", spec.title)
        _sub(image, "link", spec.home_url)
    _sub(channel, f"{atom}link", rel="self", type=MEDIA_TYPES["rss"], href=feed_url(config, spec, "rss"))
    if config.feeds.hub:
        _sub(channel, f"{atom}link", rel="hub", href=config.feeds.hub)
    for link in _links(spec, "rss"):
        _atom_link(channel, link, prefix=atom)
    _history_marks(channel, spec)
    for article in items:
        _rss_item(config, channel, article)
    return _serialize(rss, config, spec)


def _rss_item(config: Config, channel: etree._Element, article: Article) -> None:
    item = _sub(channel, "item")
    _sub(item, "title", _title(article))
    _sub(item, "link", article.url)
    summary = clean_text(article.summary).strip()
    if summary:
        # RSS readers treat <description> as HTML: escape the plain-text summary so "x < y" or a
        # quoted "<script>" shows as text instead of becoming markup.
        _sub(item, "description", html.escape(summary, quote=False))
    _sub(item, "guid", article.feed_id, isPermaLink="false")
    _sub(item, "pubDate", rfc822(article.published))
    # RSS <author> must be an email address; names without one go to dc:creator.
    authors = list(_authors(config, article))
    first_with_email = next((a for a in authors if a.email), None)
    if first_with_email is not None:
        _sub(item, "author", f"{first_with_email.email} ({clean_text(first_with_email.name)})")
    for author in authors:
        if author is not first_with_email:
            _sub(item, f"{{{DC_NS}}}creator", author.name)
    for term in _terms(article):
        _sub(item, "category", term)
    if article.image is not None:
        _rss_image(item, article.image)
    content = _content_html(config, article)
    if content:
        # Escaped text rather than CDATA: a body holding "]]>" cannot end a CDATA section early.
        _sub(item, f"{{{CONTENT_NS}}}encoded", content)
    if article.source is not None:
        name = article.source.feed_title or article.source.name
        if article.source.feed_url:
            _sub(item, "source", name, url=article.source.feed_url)
        else:
            # RSS <source> requires a url; a source read from a local file has none a reader
            # could use, so Dublin Core credits it by name instead.
            _sub(item, f"{{{DC_NS}}}source", name)


def _rss_image(item: etree._Element, image: Image) -> None:
    media_type = _image_type(image)
    if media_type:
        # rssboard.org best practice: length 0 when the size is unknown (length is required).
        _sub(item, "enclosure", url=image.url, length=str(image.length or 0), type=media_type)
    attrib = {"url": image.url, "medium": "image"}
    if media_type:
        attrib["type"] = media_type
    if image.length:
        attrib["fileSize"] = str(image.length)
    if image.width:
        attrib["width"] = str(image.width)
    if image.height:
        attrib["height"] = str(image.height)
    # No media:description for the alt text: feedparser (and readers built on it) then shows it as
    # the item's content instead of the body.
    _sub(item, f"{{{MEDIA_NS}}}content", **attrib)
    _sub(item, f"{{{MEDIA_NS}}}thumbnail", url=image.url)


def _atom_link(parent: etree._Element, link: Link, prefix: str) -> None:
    attrib = {"rel": link.rel, "href": link.href}
    if link.type:
        attrib["type"] = link.type
    if link.title:
        attrib["title"] = clean_text(link.title)
    _sub(parent, f"{prefix}link", **attrib)


# --- Atom 1.0 ---------------------------------------------------------------------------------


def render_atom(config: Config, spec: FeedSpec, items: Sequence[Article]) -> bytes:
    """Atom 1.0 (RFC 4287): every entry has an author, an alternate link, published and updated."""
    a = f"{{{ATOM_NS}}}"
    feed = etree.Element(f"{a}feed", nsmap=_nsmap(spec, {None: ATOM_NS}))
    if config.site.language:
        feed.set("{http://www.w3.org/XML/1998/namespace}lang", config.site.language)
    _sub(feed, f"{a}id", atom_feed_id(config, spec))
    _sub(feed, f"{a}title", spec.title)
    if spec.description:
        _sub(feed, f"{a}subtitle", spec.description)
    # An empty feed still needs <updated>: the epoch is fixed, so it never looks changed.
    _sub(feed, f"{a}updated", rfc3339(feed_updated(items) or EPOCH))
    _sub(feed, f"{a}link", rel="self", type=MEDIA_TYPES["atom"], href=feed_url(config, spec, "atom"))
    _sub(feed, f"{a}link", rel="alternate", type="text/html", href=spec.home_url)
    if config.feeds.hub:
        _sub(feed, f"{a}link", rel="hub", href=config.feeds.hub)
    for link in _links(spec, "atom"):
        _atom_link(feed, link, prefix=a)
    _sub(feed, f"{a}generator", GENERATOR)
    logo = _logo(config)
    if logo:
        _sub(feed, f"{a}logo", logo)
    _history_marks(feed, spec)
    for article in items:
        _atom_entry(config, feed, article)
    return _serialize(feed, config, spec)


def atom_feed_id(config: Config, spec: FeedSpec) -> str:
    """The Atom feed id: the subscription feed's Atom URL, shared by its RFC 5005 archive documents."""
    slug = spec.category.slug if spec.category is not None else config.feeds.all_slug
    return f"{config.feeds_url}{slug}{EXTENSIONS['atom']}"


def _atom_entry(config: Config, feed: etree._Element, article: Article) -> None:
    a = f"{{{ATOM_NS}}}"
    entry = _sub(feed, f"{a}entry")
    if article.language and article.language != config.site.language:
        entry.set("{http://www.w3.org/XML/1998/namespace}lang", article.language)
    _sub(entry, f"{a}id", article.feed_id)
    _sub(entry, f"{a}title", _title(article))
    _sub(entry, f"{a}link", rel="alternate", type="text/html", href=article.url)
    if article.image is not None:
        attrib = {"rel": "enclosure", "href": article.image.url}
        media_type = _image_type(article.image)
        if media_type:
            attrib["type"] = media_type
        if article.image.length:
            attrib["length"] = str(article.image.length)
        if article.image.alt:
            attrib["title"] = clean_text(article.image.alt)
        _sub(entry, f"{a}link", **attrib)
    _sub(entry, f"{a}published", rfc3339(article.published))
    _sub(entry, f"{a}updated", rfc3339(max(article.updated, article.published)))
    for author in _authors(config, article):
        element = _sub(entry, f"{a}author")
        _sub(element, f"{a}name", author.name)
        if author.email:
            _sub(element, f"{a}email", author.email)
        if author.url:
            _sub(element, f"{a}uri", author.url)
    for term in _terms(article):
        _sub(entry, f"{a}category", term=term)
    summary = clean_text(article.summary).strip()
    if summary:
        _sub(entry, f"{a}summary", summary)
    content = _content_html(config, article)
    if content:
        _sub(entry, f"{a}content", content, type="html")
    if article.source is not None:
        source = _sub(entry, f"{a}source")
        if article.source.feed_id:
            _sub(source, f"{a}id", article.source.feed_id)
        _sub(source, f"{a}title", article.source.feed_title or article.source.name)
        if article.source.feed_url:
            _sub(source, f"{a}link", rel="self", href=article.source.feed_url)
        if article.source.site_url:
            _sub(source, f"{a}link", rel="alternate", type="text/html", href=article.source.site_url)


# --- JSON Feed 1.1 ----------------------------------------------------------------------------


def render_json(config: Config, spec: FeedSpec, items: Sequence[Article]) -> bytes:
    """JSON Feed 1.1; RFC 5005 ``prev-archive`` becomes ``next_url`` (the walk towards older items)."""
    document: dict[str, object] = {
        "version": JSONFEED_VERSION,
        "title": clean_text(spec.title),
        "home_page_url": spec.home_url,
        "feed_url": feed_url(config, spec, "json"),
    }
    if spec.description:
        document["description"] = clean_text(spec.description)
    links = _links(spec, "json")
    older = next((link for link in links if link.rel == "prev-archive"), None) or next(
        (link for link in links if link.rel == "next"), None
    )
    if older is not None:
        document["next_url"] = older.href
    if config.site.language:
        document["language"] = config.site.language
    logo = _logo(config)
    if logo:
        document["icon"] = logo
    if config.feeds.hub:
        document["hubs"] = [{"type": "WebSub", "url": config.feeds.hub}]
    document["items"] = [_json_item(config, article) for article in items]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _json_item(config: Config, article: Article) -> dict[str, object]:
    item: dict[str, object] = {"id": article.feed_id, "url": article.url, "title": _title(article)}
    content = _content_html(config, article)
    summary = clean_text(article.summary).strip()
    if content:
        item["content_html"] = content
    else:
        # JSON Feed requires content_html or content_text on every item.
        item["content_text"] = summary or _title(article)
    if summary:
        item["summary"] = summary
    if article.image is not None:
        item["image"] = article.image.url
    item["date_published"] = rfc3339(article.published)
    item["date_modified"] = rfc3339(max(article.updated, article.published))
    authors = []
    for author in _authors(config, article):
        entry = {"name": clean_text(author.name)}
        if author.url:
            entry["url"] = author.url
        authors.append(entry)
    item["authors"] = authors
    terms = _terms(article)
    if terms:
        item["tags"] = terms
    if article.language and article.language != config.site.language:
        item["language"] = article.language
    if article.source is not None:
        source: dict[str, str] = {"name": clean_text(article.source.name)}
        if article.source.feed_url:
            source["feed_url"] = article.source.feed_url
        if article.source.site_url:
            source["home_page_url"] = article.source.site_url
        if article.source.feed_title:
            source["title"] = clean_text(article.source.feed_title)
        if article.source.feed_id:
            source["id"] = article.source.feed_id
        item["_source"] = source
    return item


# --- OPML, index page, stylesheet -------------------------------------------------------------


def _preferred_format(config: Config) -> str:
    # Readers import one URL per outline; RSS is the format every reader knows.
    return next((f for f in ("rss", "atom", "json") if f in config.feeds.formats), "rss")


def _listed(plan: FeedPlan) -> FeedPlan:
    return [(spec, items) for spec, items in plan if not spec.archive]


def render_opml(config: Config, plan: FeedPlan) -> bytes:
    """OPML 2.0 listing every subscription feed (archives left out), one outline each."""
    fmt = _preferred_format(config)
    opml = etree.Element("opml", {"version": "2.0"})
    head = _sub(opml, "head")
    _sub(head, "title", f"{config.site.title} — feeds")
    newest = feed_updated([a for _, items in plan for a in items])
    if newest is not None:
        _sub(head, "dateModified", rfc822(newest))
    if config.site.author:
        _sub(head, "ownerName", config.site.author)
    _sub(head, "docs", "http://opml.org/spec2.opml")
    body = _sub(opml, "body")
    for spec, _ in _listed(plan):
        attrib = {
            "type": "rss",
            "text": clean_text(spec.title),
            "title": clean_text(spec.title),
            "description": clean_text(spec.description),
            "xmlUrl": feed_url(config, spec, fmt),
            "htmlUrl": spec.home_url,
        }
        if config.site.language:
            attrib["language"] = config.site.language
        etree.SubElement(body, "outline", attrib)
    document: bytes = etree.tostring(opml, encoding="utf-8", pretty_print=True)
    return _XML_DECLARATION + document


def render_index_html(config: Config, plan: FeedPlan) -> bytes:
    """The human page listing every feed, with ``<link rel="alternate">`` autodiscovery tags.

    Rendered from ``feeds-index.html`` (a site's templates folder may override it).
    """
    feeds = []
    for spec, items in _listed(plan):
        newest = feed_updated(items)
        feeds.append(
            {
                "title": clean_text(spec.title),
                "name": clean_text(spec.category.title if spec.category else config.feeds.all_title),
                "description": clean_text(spec.description),
                "home_url": spec.home_url,
                "count": len(items),
                "updated": rfc3339(newest) if newest else None,
                "updated_date": newest.date().isoformat() if newest else None,
                "formats": [
                    {"label": FORMAT_LABELS[f], "type": MEDIA_TYPES[f], "url": feed_url(config, spec, f)}
                    for f in config.feeds.formats
                ],
            }
        )
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader([str(d) for d in config.template_dirs])]
    loaders.append(jinja2.PackageLoader("syndicate", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    page = env.get_template(INDEX_TEMPLATE).render(
        site={
            "title": clean_text(config.site.title),
            "url": config.site.url,
            "description": clean_text(config.site.description),
            "language": config.site.language or "en",
        },
        feeds=feeds,
        opml_url=config.feeds_url + "index.opml",
        generator=GENERATOR,
    )
    return page.encode("utf-8")


def render_stylesheet(config: Config) -> bytes:
    """The XSL stylesheet that makes RSS and Atom files readable in a browser.

    A ``feed.xsl`` in the site's templates folder replaces the shipped one.
    """
    for folder in config.template_dirs:
        override = folder / STYLESHEET_NAME
        if override.is_file():
            return override.read_bytes()
    return (resources.files("syndicate") / "templates" / STYLESHEET_NAME).read_bytes()


def render_outputs(config: Config, plan: FeedPlan) -> dict[str, bytes]:
    """Every file of the feed folder: relative path -> bytes (feeds, index.opml, index.html, feed.xsl)."""
    renderers = {"rss": render_rss, "atom": render_atom, "json": render_json}
    outputs: dict[str, bytes] = {}
    for spec, items in plan:
        for fmt in config.feeds.formats:
            outputs[feed_path(spec, EXTENSIONS[fmt])] = renderers[fmt](config, spec, items)
    outputs["index.opml"] = render_opml(config, plan)
    outputs["index.html"] = render_index_html(config, plan)
    if config.feeds.stylesheet:
        outputs[STYLESHEET_NAME] = render_stylesheet(config)
    return outputs
