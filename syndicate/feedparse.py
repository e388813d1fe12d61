"""Parse fetched feed bytes into clean entries. Pure: no network, no disk, no clock.

RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 go through feedparser, handed the bytes and the
response headers, never a URL or a path (feedparser would fetch or open it). JSON
Feed 1.0/1.1, which feedparser 6 does not read, has its own small parser here.
Every piece of text leaves as plain text, every piece of markup through the
allowlist sanitizer, every link as an absolute http(s) URL.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser

from .errors import IngestError
from .model import Image
from .sanitize import clean_text, html_to_text, is_web_url, sanitize_html, text_to_html, truncate_text

# Dates further ahead than this are treated as missing: a feed claiming an item from
# next year would otherwise sit at the top of every mixed feed until then.
FUTURE_TOLERANCE = timedelta(days=1)
MAX_TITLE = 300
MAX_CATEGORIES = 20
MAX_GUID = 500
HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S)


@dataclass(frozen=True)
class ParsedEntry:
    """One item of a feed, cleaned. Dates are UTC, or None when missing or unusable."""

    guid: str
    title: str
    link: str
    own_link: bool
    """False when the entry had no link of its own and ``link`` is the source's site or feed URL."""
    published: datetime | None
    updated: datetime | None
    author: str | None
    categories: tuple[str, ...]
    summary_html: str
    content_html: str
    image: Image | None

    def content_hash(self) -> str:
        """A digest of everything stored about the entry: a change means an update in place."""
        parts = [
            self.title,
            self.link,
            self.published.isoformat() if self.published else "",
            self.updated.isoformat() if self.updated else "",
            self.author or "",
            "\x1f".join(self.categories),
            self.summary_html,
            self.content_html,
            repr(self.image),
        ]
        return hashlib.sha1("\x1e".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed document: feed-level metadata, entries, and warnings worth reporting."""

    format: str
    title: str
    site_url: str | None
    feed_id: str | None
    entries: tuple[ParsedEntry, ...]
    warnings: tuple[str, ...] = ()
    self_url: str | None = None
    """The feed's own public URL as it states it (Atom/RSS ``rel="self"``, JSON Feed ``feed_url``)."""


def parse_feed(data: bytes, *, headers: Mapping[str, str], url: str, now: datetime) -> ParsedFeed:
    """Parse a feed document fetched from ``url``; raise IngestError when it holds no feed.

    ``headers`` are the response headers (lower-case names); ``content-type`` guides the
    format and encoding, ``content-location`` (else ``url``) is the base for relative URLs.
    """
    if not data.strip():
        raise IngestError("empty response body")
    content_type = headers.get("content-type", "")
    base = urljoin(url, headers["content-location"]) if headers.get("content-location") else url
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if "json" in content_type.lower() or head.startswith((b"{", b"[")):
        return parse_json_feed(data, base_url=base, now=now)
    data = _utf16_to_utf8(data)
    return _parse_xml_feed(data, content_type=content_type, base_url=base, now=now)


# -- RSS and Atom (feedparser) -------------------------------------------------


def _parse_xml_feed(data: bytes, *, content_type: str, base_url: str, now: datetime) -> ParsedFeed:
    response_headers = {"content-location": base_url}
    if content_type:
        response_headers["content-type"] = content_type
    # A stream, not bytes: given bytes, feedparser first tries them as a file name.
    # Its own sanitizer and URL resolver are off: nh3 does both, with each element's xml:base.
    parsed = feedparser.parse(
        io.BytesIO(data), response_headers=response_headers, sanitize_html=False, resolve_relative_uris=False
    )
    warnings: list[str] = []
    version = parsed.get("version") or ""
    if not parsed.entries and not version:
        if "html" in content_type.lower() or _HTML_START.match(data[:4096]):
            raise IngestError("not a feed: the server sent an HTML page")
        if parsed.get("bozo"):
            raise IngestError(f"not a feed: {_one_line(parsed.get('bozo_exception'))}")
        raise IngestError("not a feed: no RSS, Atom or JSON Feed document found")
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    # Missing or odd Content-Type is common and harmless once the bytes parsed.
    if problem is not None and not isinstance(problem, feedparser.NonXMLContentType):
        if not parsed.entries:
            raise IngestError(f"malformed feed, no entries could be read: {_one_line(problem)}")
        warnings.append(
            f"malformed feed ({_one_line(problem)}); kept {_entries(len(parsed.entries))} that could be read"
        )
    feed = parsed.feed
    site_url = _web_url(feed.get("link"), base_url)
    entries: list[ParsedEntry] = []
    future = 0
    for raw in parsed.entries:
        entry, was_future = _feedparser_entry(
            raw, base_url=feed.get("base") or base_url, fallback_link=site_url or base_url, now=now
        )
        future += was_future
        entries.append(entry)
    warnings.extend(_entry_warnings(0, future))
    return ParsedFeed(
        format=version or "unknown",
        title=_plain_title(feed.get("title_detail"), feed.get("title", "")),
        site_url=site_url,
        feed_id=clean_text(str(feed.get("id", ""))) or None,
        entries=tuple(_unique(entries)),
        warnings=tuple(warnings),
        self_url=next(
            (_web_url(link.get("href"), base_url) for link in feed.get("links", []) if link.get("rel") == "self"),
            None,
        ),
    )


def _feedparser_entry(raw: Any, *, base_url: str, fallback_link: str, now: datetime) -> tuple[ParsedEntry, bool]:
    entry_base = str(raw.get("base") or base_url)
    link = _web_url(raw.get("link"), entry_base)
    if link is None:
        for candidate in raw.get("links", ()):
            if candidate.get("rel", "alternate") == "alternate":
                link = _web_url(candidate.get("href"), entry_base)
                if link:
                    break
    raw_id = clean_text(str(raw.get("id", "")))
    if link is None and raw_id and is_web_url(raw_id):
        link = raw_id
    content_html = ""
    for item in raw.get("content", ()):
        content_html = _markup(item, entry_base)
        if content_html:
            break
    summary_html = _markup(raw.get("summary_detail"), entry_base) if raw.get("summary_detail") else ""
    if not summary_html and raw.get("summary"):
        summary_html = sanitize_html(str(raw.get("summary")), base_url=entry_base)
    title = _plain_title(raw.get("title_detail"), raw.get("title", ""))
    published, future_p = _struct_date(raw.get("published_parsed"), now)
    # Read past FeedParserDict's deprecated updated->published fallback: missing means missing.
    updated, future_u = _struct_date(dict.get(raw, "updated_parsed"), now)
    author = raw.get("author_detail", {}).get("name") or raw.get("author") or ""
    categories = [t.get("term") or t.get("label") or "" for t in raw.get("tags", ())]
    entry = _build_entry(
        guid=raw_id,
        title=title,
        link=link,
        fallback_link=fallback_link,
        published=published,
        updated=updated,
        author=author,
        categories=categories,
        summary_html=summary_html,
        content_html=content_html,
        image=_feedparser_image(raw, entry_base),
    )
    return entry, future_p or future_u


def _markup(detail: Any, base_url: str) -> str:
    if not detail:
        return ""
    value = str(detail.get("value", ""))
    kind = str(detail.get("type", "text/html")).lower()
    base = str(detail.get("base") or base_url)
    if any(t in kind for t in HTML_TYPES):
        return sanitize_html(value, base_url=base)
    return text_to_html(value)


def _plain_title(detail: Any, value: Any) -> str:
    text = str(value or "")
    kind = str((detail or {}).get("type", "text/plain")).lower()
    if any(t in kind for t in HTML_TYPES):
        return html_to_text(text)
    return clean_text(text)


def _struct_date(value: Any, now: datetime) -> tuple[datetime | None, bool]:
    if not value:
        return None, False
    try:
        when = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None, False
    if when > now + FUTURE_TOLERANCE:
        return None, True
    return when, False


def _feedparser_image(raw: Any, base_url: str) -> Image | None:
    for enclosure in raw.get("enclosures", ()):
        if str(enclosure.get("type", "")).startswith("image/"):
            url = _web_url(enclosure.get("href"), base_url)
            if url:
                return Image(url=url, type=enclosure.get("type"), length=_int(enclosure.get("length")))
    for media in raw.get("media_content", ()):
        kind = str(media.get("type", ""))
        if media.get("medium") == "image" or kind.startswith("image/"):
            url = _web_url(media.get("url"), base_url)
            if url:
                return Image(
                    url=url,
                    type=kind or None,
                    width=_int(media.get("width")),
                    height=_int(media.get("height")),
                    length=_int(media.get("filesize") or media.get("fileSize")),
                )
    for thumb in raw.get("media_thumbnail", ()):
        url = _web_url(thumb.get("url"), base_url)
        if url:
            return Image(url=url, width=_int(thumb.get("width")), height=_int(thumb.get("height")))
    return None


# -- JSON Feed 1.0 / 1.1 -------------------------------------------------------


def parse_json_feed(data: bytes, *, base_url: str, now: datetime) -> ParsedFeed:
    """Parse a JSON Feed (https://jsonfeed.org/version/1.1, and 1.0); raise IngestError if it is not one."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise IngestError(f"invalid JSON: {_one_line(exc)}") from None
    if not isinstance(doc, dict):
        raise IngestError("JSON document is not a JSON Feed (expected an object)")
    version = _str(doc.get("version"))
    if not re.match(r"^https?://jsonfeed\.org/version/1(\.\d+)?/?$", version):
        raise IngestError("JSON document is not a JSON Feed (no https://jsonfeed.org/version/1.x 'version')")
    items = doc.get("items")
    if not isinstance(items, list):
        raise IngestError("JSON Feed has no 'items' list")
    feed_url = _web_url(doc.get("feed_url"), base_url)
    site_url = _web_url(doc.get("home_page_url"), base_url)
    feed_authors = _json_authors(doc)
    entries: list[ParsedEntry] = []
    skipped = future = 0
    for item in items:
        if not isinstance(item, dict):
            skipped += 1
            continue
        entry, was_future = _json_entry(
            item, base_url=base_url, fallback_link=site_url or base_url, feed_authors=feed_authors, now=now
        )
        future += was_future
        entries.append(entry)
    return ParsedFeed(
        format="json" + version.rstrip("/").rsplit("/", 1)[-1],
        title=clean_text(_str(doc.get("title"))),
        site_url=site_url,
        feed_id=feed_url,
        entries=tuple(_unique(entries)),
        warnings=tuple(_entry_warnings(skipped, future)),
        self_url=feed_url,
    )


def _json_entry(
    item: dict[str, Any], *, base_url: str, fallback_link: str, feed_authors: list[str], now: datetime
) -> tuple[ParsedEntry, bool]:
    raw_id = item.get("id")
    guid = clean_text(str(raw_id)) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else ""
    link = _web_url(item.get("url"), base_url) or _web_url(item.get("external_url"), base_url)
    if link is None and guid and is_web_url(guid):
        link = guid
    if isinstance(item.get("content_html"), str):
        content_html = sanitize_html(item["content_html"], base_url=base_url)
    else:
        content_html = text_to_html(_str(item.get("content_text")))
    summary = _str(item.get("summary"))
    published, future_p = _iso_date(item.get("date_published"), now)
    updated, future_u = _iso_date(item.get("date_modified"), now)
    tags = item.get("tags")
    image = None
    for key in ("image", "banner_image"):
        url = _web_url(item.get(key), base_url)
        if url:
            image = Image(url=url)
            break
    if image is None and isinstance(item.get("attachments"), list):
        for attachment in item["attachments"]:
            if isinstance(attachment, dict) and _str(attachment.get("mime_type")).startswith("image/"):
                url = _web_url(attachment.get("url"), base_url)
                if url:
                    image = Image(url=url, type=attachment["mime_type"], length=_int(attachment.get("size_in_bytes")))
                    break
    entry = _build_entry(
        guid=guid,
        title=clean_text(_str(item.get("title"))),
        link=link,
        fallback_link=fallback_link,
        published=published,
        updated=updated,
        author=", ".join(_json_authors(item) or feed_authors),
        categories=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        summary_html=text_to_html(summary) if summary else "",
        content_html=content_html,
        image=image,
    )
    return entry, future_p or future_u


def _json_authors(obj: dict[str, Any]) -> list[str]:
    # 1.1 has an ``authors`` list; 1.0 a single ``author`` object.
    found = obj.get("authors")
    candidates = found if isinstance(found, list) else [obj.get("author")]
    names = [clean_text(_str(a.get("name"))) for a in candidates if isinstance(a, dict)]
    return [n for n in names if n]


def _iso_date(value: Any, now: datetime) -> tuple[datetime | None, bool]:
    if not isinstance(value, str) or not value.strip():
        return None, False
    text = value.strip()
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None, False
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when > now + FUTURE_TOLERANCE:
        return None, True
    return when, False


# -- shared --------------------------------------------------------------------


def _build_entry(
    *,
    guid: str,
    title: str,
    link: str | None,
    fallback_link: str,
    published: datetime | None,
    updated: datetime | None,
    author: str,
    categories: Iterable[str],
    summary_html: str,
    content_html: str,
    image: Image | None,
) -> ParsedEntry:
    if not title:
        title = truncate_text(html_to_text(summary_html or content_html), 80) or "Untitled"
    title = truncate_text(title, MAX_TITLE)
    # Identity: the guid, else the entry's own link, else a hash of title and content.
    if not guid:
        guid = link or "sha1:" + hashlib.sha1((title + "\x1e" + (content_html or summary_html)).encode()).hexdigest()
    elif len(guid) > MAX_GUID:
        guid = "sha1:" + hashlib.sha1(guid.encode("utf-8")).hexdigest()
    if updated is not None and published is not None and updated < published:
        updated = published
    cats: list[str] = []
    for category in categories:
        name = clean_text(str(category))
        if name and name not in cats:
            cats.append(name)
    return ParsedEntry(
        guid=guid,
        title=title,
        link=link or fallback_link,
        own_link=link is not None,
        published=published,
        updated=updated,
        author=clean_text(str(author)) or None,
        categories=tuple(cats[:MAX_CATEGORIES]),
        summary_html=summary_html,
        content_html=content_html,
        image=image,
    )


def _unique(entries: list[ParsedEntry]) -> list[ParsedEntry]:
    # A feed repeating a guid keeps its first (topmost, usually newest) occurrence.
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.guid not in seen:
            seen.add(entry.guid)
            unique.append(entry)
    return unique


def _entry_warnings(skipped: int, future: int) -> list[str]:
    warnings = []
    if skipped:
        warnings.append(f"skipped {skipped} entries that are not JSON objects")
    if future:
        warnings.append(f"{future} entries dated in the future; using the time they were first seen")
    return warnings


def _utf16_to_utf8(data: bytes) -> bytes:
    """Re-encode UTF-16 that has neither a BOM nor a declaration (which XML parsers cannot detect)."""
    if len(data) < 4 or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data
    if data[0] == 0 and data[1] != 0 and data[2] == 0:
        encoding = "utf-16-be"
    elif data[0] != 0 and data[1] == 0 and data[3] == 0:
        encoding = "utf-16-le"
    else:
        return data
    text = data.decode(encoding, errors="replace")
    text = re.sub(r"""^(<\?xml[^>]*encoding=)["'][^"']*["']""", r'\1"utf-8"', text)
    return text.encode("utf-8")


def _web_url(value: Any, base_url: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = clean_text(value)
    try:
        url = urljoin(base_url, text)
    except ValueError:
        return None
    return url if is_web_url(url) else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**53 else None


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _one_line(exc: object) -> str:
    text = clean_text(str(exc)) if exc is not None else "unknown error"
    return truncate_text(text or type(exc).__name__, 200)
