"""Feed validity checks that any test can import.

Each ``*_problems`` function returns a list of human-readable problems (empty: valid), so a test
can ``assert not problems`` and see every failure at once. The rules follow the specs:

- Atom: the RELAX NG schema of RFC 4287 Appendix B (``tests/data/atom-rfc4287.rng``) with lxml,
  plus the RFC's prose rules the schema cannot express (``atom_rfc4287_problems``).
- RSS 2.0: the rssboard.org specification (``rss2_problems``).
- JSON Feed 1.1: https://jsonfeed.org/version/1.1 (``jsonfeed_problems``).
- feedparser: ``feedparser_items`` parses with ``bozo == 0`` and returns what a reader sees.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import feedparser
from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
A = f"{{{ATOM}}}"
SCHEMA_PATH = Path(__file__).parent / "data" / "atom-rfc4287.rng"

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
RFC822 = re.compile(
    r"^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{2}|\d{4}) (\d\d):(\d\d)(?::(\d\d))? (GMT|UT|[+-]\d{4}|EST|EDT|CST|CDT|MST|MDT|PST|PDT|Z)$"
)
IRI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
HTTP_URL = re.compile(r"^https?://[^\s/]+\S*$")
EMAIL_FIRST = re.compile(r"^[^\s@()]+@[^\s@()]+\.[^\s@()]+(?: \(.*\))?$")

RSS_CHANNEL_ELEMENTS = {
    "title", "link", "description", "language", "copyright", "managingEditor", "webMaster", "pubDate",
    "lastBuildDate", "category", "generator", "docs", "cloud", "ttl", "image", "rating", "textInput",
    "skipHours", "skipDays", "item",
}  # fmt: skip
RSS_ITEM_ELEMENTS = {"title", "link", "description", "author", "category", "comments", "enclosure", "guid", "pubDate",
                     "source"}  # fmt: skip
RSS_TEXT_ELEMENTS = {"title", "link", "description", "language", "copyright", "managingEditor", "webMaster",
                     "pubDate", "lastBuildDate", "category", "generator", "docs", "ttl", "author", "comments",
                     "guid", "source"}  # fmt: skip

JSONFEED_TOP = {"version", "title", "home_page_url", "feed_url", "description", "user_comment", "next_url", "icon",
                "favicon", "authors", "author", "language", "expired", "hubs", "items"}  # fmt: skip
JSONFEED_ITEM = {"id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
                 "banner_image", "date_published", "date_modified", "authors", "author", "tags", "language",
                 "attachments"}  # fmt: skip


@lru_cache(maxsize=1)
def _atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMA_PATH)))


def parse_xml(data: bytes) -> etree._Element:
    """Parse strictly (no entity expansion, no network); raises on malformed XML."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    return etree.fromstring(data, parser)


def atom_rng_problems(data: bytes) -> list[str]:
    """Atom document against the RFC 4287 Appendix B RELAX NG schema."""
    schema = _atom_schema()
    if schema.validate(parse_xml(data).getroottree()):
        return []
    return [f"rng: line {e.line}: {e.message}" for e in schema.error_log]


def atom_rfc4287_problems(data: bytes) -> list[str]:
    """RFC 4287 rules the schema cannot express (plus the schema's embedded Schematron asserts)."""
    root = parse_xml(data)
    problems: list[str] = []
    if root.tag != f"{A}feed":
        return [f"root element is {root.tag}, not atom:feed"]
    entries = root.findall(f"{A}entry")
    # 4.1.1 / Schematron: the feed or every entry has an author (an entry's source authors count too).
    if root.find(f"{A}author") is None:
        for entry in entries:
            if entry.find(f"{A}author") is None and entry.find(f"{A}source/{A}author") is None:
                problems.append(f"entry {entry.findtext(f'{A}id')!r}: no atom:author and the feed has none")
    for node in [root, *entries]:
        where = "feed" if node is root else f"entry {node.findtext(f'{A}id')!r}"
        # 4.1.1 / 4.1.2: at most one alternate link per (type, hreflang).
        seen: set[tuple[str | None, str | None]] = set()
        for link in node.findall(f"{A}link"):
            if link.get("rel", "alternate") == "alternate":
                key = (link.get("type"), link.get("hreflang"))
                if key in seen:
                    problems.append(f"{where}: two alternate links with type/hreflang {key}")
                seen.add(key)
            href = link.get("href", "")
            if not IRI_SCHEME.match(href):
                problems.append(f"{where}: link href {href!r} is not absolute")
        ids = node.findall(f"{A}id")
        if len(ids) != 1:
            problems.append(f"{where}: {len(ids)} atom:id elements (exactly one required)")
        for element in ids:
            if not IRI_SCHEME.match((element.text or "").strip()):
                problems.append(f"{where}: atom:id {element.text!r} is not an absolute IRI (4.2.6)")
        if len(node.findall(f"{A}updated")) != 1:
            problems.append(f"{where}: exactly one atom:updated required")
        if len(node.findall(f"{A}title")) != 1:
            problems.append(f"{where}: exactly one atom:title required")
    for element in root.iter(f"{A}updated", f"{A}published"):
        text = (element.text or "").strip()
        if not RFC3339.match(text):
            problems.append(f"line {element.sourceline}: date {text!r} is not RFC 3339 (3.3)")
    entry_ids = [e.findtext(f"{A}id") for e in entries]
    for duplicate in sorted({i for i in entry_ids if entry_ids.count(i) > 1}, key=str):
        problems.append(f"duplicate entry id {duplicate!r}")
    for entry in entries:
        where = f"entry {entry.findtext(f'{A}id')!r}"
        content = entry.find(f"{A}content")
        links = entry.findall(f"{A}link")
        # 4.1.2 / Schematron: an entry without content needs an alternate link.
        if content is None and not any(link.get("rel", "alternate") == "alternate" for link in links):
            problems.append(f"{where}: neither atom:content nor an alternate link")
        if content is not None:
            ctype = content.get("type", "text")
            out_of_line = content.get("src") is not None
            textual = ctype in ("text", "html", "xhtml") or ctype.startswith("text/") or ctype.endswith("+xml")
            textual = textual or ctype.endswith("/xml")
            # 4.1.1.1 / 4.1.3.3: out-of-line or base64 content needs a summary.
            if (out_of_line or not textual) and entry.find(f"{A}summary") is None:
                problems.append(f"{where}: content is out of line or binary but there is no atom:summary")
        for text_construct in ("title", "summary", "rights", "subtitle"):
            for element in entry.findall(f"{A}{text_construct}"):
                if element.get("type", "text") in ("text", "html") and len(element):
                    problems.append(f"{where}: atom:{text_construct} of type text/html has child elements")
    if not any(link.get("rel") == "self" for link in root.findall(f"{A}link")):
        problems.append("feed: no rel=self link")
    return problems


def atom_problems(data: bytes) -> list[str]:
    """Everything we require of an Atom document."""
    return atom_rng_problems(data) + atom_rfc4287_problems(data)


def parse_rfc822(text: str) -> datetime:
    """Parse an RSS date, checking the format and the day of the week; raises ValueError."""
    match = RFC822.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an RFC 822 date")
    moment = parsedate_to_datetime(text)
    if match.group(1) and moment.strftime("%a") != match.group(1):
        raise ValueError(f"{text!r}: the day is a {moment.strftime('%a')}, not a {match.group(1)}")
    return moment


def rss2_problems(data: bytes) -> list[str]:
    """RSS 2.0 (rssboard.org) rules, plus the atom:link rel=self we require."""
    root = parse_xml(data)
    problems: list[str] = []
    if root.tag != "rss" or root.get("version") != "2.0":
        return [f"root is <{root.tag} version={root.get('version')!r}>, not <rss version='2.0'>"]
    channels = root.findall("channel")
    if len(channels) != 1:
        return [f"{len(channels)} <channel> elements (exactly one required)"]
    channel = channels[0]
    for required in ("title", "link", "description"):
        found = channel.findall(required)
        if len(found) != 1:
            problems.append(f"channel: {len(found)} <{required}> elements (exactly one required)")
        elif not (found[0].text or "").strip():
            problems.append(f"channel: <{required}> is empty")
    if not HTTP_URL.match(channel.findtext("link") or ""):
        problems.append(f"channel: <link> {channel.findtext('link')!r} is not an absolute http(s) URL")
    for element in channel.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag in RSS_TEXT_ELEMENTS and len(element):
            problems.append(f"line {element.sourceline}: <{element.tag}> contains child elements (unescaped HTML?)")
        if element.tag in ("pubDate", "lastBuildDate"):
            try:
                parse_rfc822((element.text or "").strip())
            except ValueError as exc:
                problems.append(f"line {element.sourceline}: <{element.tag}>: {exc}")
        if element.tag == "description" and "<script" in (element.text or "").lower():
            problems.append(f"line {element.sourceline}: <description> (HTML) contains a <script> element")
        if element.tag in ("author", "managingEditor", "webMaster") and not EMAIL_FIRST.match(element.text or ""):
            problems.append(f"line {element.sourceline}: <{element.tag}> {element.text!r} is not an email address")
    for child in channel:
        if isinstance(child.tag, str) and "}" not in child.tag and child.tag not in RSS_CHANNEL_ELEMENTS:
            problems.append(f"channel: <{child.tag}> is not an RSS 2.0 element")
    self_links = [
        link
        for link in channel.findall(f"{A}link")
        if link.get("rel") == "self" and HTTP_URL.match(link.get("href", ""))
    ]
    if len(self_links) != 1:
        problems.append(f"channel: {len(self_links)} atom:link rel=self with an absolute href (exactly one required)")
    guids: list[str] = []
    for item in channel.findall("item"):
        where = f"item at line {item.sourceline}"
        for child in item:
            if isinstance(child.tag, str) and "}" not in child.tag and child.tag not in RSS_ITEM_ELEMENTS:
                problems.append(f"{where}: <{child.tag}> is not an RSS 2.0 item element")
        if not (item.findtext("title") or "").strip() and not (item.findtext("description") or "").strip():
            problems.append(f"{where}: needs a non-empty <title> or <description>")
        for link in item.findall("link"):
            if not HTTP_URL.match(link.text or ""):
                problems.append(f"{where}: <link> {link.text!r} is not an absolute http(s) URL")
        for guid in item.findall("guid"):
            permalink = guid.get("isPermaLink", "true")
            if permalink not in ("true", "false"):
                problems.append(f"{where}: guid isPermaLink={permalink!r}")
            if permalink == "true" and not HTTP_URL.match(guid.text or ""):
                problems.append(f"{where}: permalink guid {guid.text!r} is not a URL")
            guids.append((guid.text or "").strip())
        for enclosure in item.findall("enclosure"):
            if not HTTP_URL.match(enclosure.get("url", "")):
                problems.append(f"{where}: enclosure url {enclosure.get('url')!r} is not absolute")
            if not (enclosure.get("length") or "").isdigit():
                problems.append(f"{where}: enclosure length {enclosure.get('length')!r} is not a number")
            if "/" not in (enclosure.get("type") or ""):
                problems.append(f"{where}: enclosure type {enclosure.get('type')!r} is not a media type")
        for source in item.findall("source"):
            if not HTTP_URL.match(source.get("url", "")):
                problems.append(f"{where}: <source url> {source.get('url')!r} is not absolute")
    for duplicate in sorted({g for g in guids if guids.count(g) > 1}):
        problems.append(f"duplicate guid {duplicate!r}")
    return problems


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"duplicate JSON keys {duplicates}")
    return dict(pairs)


def jsonfeed_problems(data: bytes) -> list[str]:
    """JSON Feed 1.1 required fields and types."""
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        return [f"not a JSON document: {exc}"]
    if not isinstance(doc, dict):
        return ["top level is not an object"]
    problems: list[str] = []
    if doc.get("version") != "https://jsonfeed.org/version/1.1":
        problems.append(f"version is {doc.get('version')!r}")
    if not isinstance(doc.get("title"), str) or not doc["title"]:
        problems.append("title (required string) is missing or empty")
    for key in ("home_page_url", "feed_url", "next_url", "icon", "favicon"):
        if key in doc and not (isinstance(doc[key], str) and HTTP_URL.match(doc[key])):
            problems.append(f"{key} {doc[key]!r} is not an absolute URL")
    for key in ("description", "user_comment", "language"):
        if key in doc and not isinstance(doc[key], str):
            problems.append(f"{key} is not a string")
    if "expired" in doc and not isinstance(doc["expired"], bool):
        problems.append("expired is not a boolean")
    problems += _authors_problems(doc, "feed")
    for hub in doc.get("hubs", []):
        if not (isinstance(hub, dict) and isinstance(hub.get("type"), str) and isinstance(hub.get("url"), str)):
            problems.append(f"hub {hub!r} needs type and url strings")
    problems += [f"feed: unknown key {k!r} (extensions start with '_')" for k in doc if k not in JSONFEED_TOP
                 and not k.startswith("_")]  # fmt: skip
    items = doc.get("items")
    if not isinstance(items, list):
        return [*problems, "items (required array) is missing"]
    ids: list[str] = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object")
            continue
        if not isinstance(item.get("id"), str) or not item["id"]:
            problems.append(f"{where}.id (required string) is missing or empty")
        else:
            ids.append(item["id"])
        if not any(isinstance(item.get(k), str) for k in ("content_html", "content_text")):
            problems.append(f"{where}: needs content_html or content_text")
        for key in ("url", "external_url", "image", "banner_image"):
            if key in item and not (isinstance(item[key], str) and HTTP_URL.match(item[key])):
                problems.append(f"{where}.{key} {item[key]!r} is not an absolute URL")
        for key in ("title", "summary", "content_html", "content_text", "language"):
            if key in item and not isinstance(item[key], str):
                problems.append(f"{where}.{key} is not a string")
        for key in ("date_published", "date_modified"):
            if key in item and not (isinstance(item[key], str) and RFC3339.match(item[key])):
                problems.append(f"{where}.{key} {item[key]!r} is not RFC 3339")
        if "tags" in item and not (isinstance(item["tags"], list) and all(isinstance(t, str) for t in item["tags"])):
            problems.append(f"{where}.tags is not a list of strings")
        for attachment in item.get("attachments", []):
            if not (isinstance(attachment, dict) and attachment.get("url") and attachment.get("mime_type")):
                problems.append(f"{where}: attachment needs url and mime_type")
        problems += _authors_problems(item, where)
        problems += [f"{where}: unknown key {k!r} (extensions start with '_')" for k in item if k not in JSONFEED_ITEM
                     and not k.startswith("_")]  # fmt: skip
    problems += [f"duplicate item id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    return problems


def _authors_problems(node: dict[str, Any], where: str) -> list[str]:
    authors = node.get("authors", [])
    if not isinstance(authors, list):
        return [f"{where}.authors is not an array"]
    problems = []
    for author in authors:
        if not isinstance(author, dict) or not any(isinstance(author.get(k), str) for k in ("name", "url", "avatar")):
            problems.append(f"{where}: author {author!r} needs a name, url or avatar")
    return problems


def feedparser_items(data: bytes, expected_version: str) -> list[dict[str, Any]]:
    """Parse with feedparser, assert ``bozo == 0`` and the version; return what a reader sees per item."""
    parsed = feedparser.parse(data)
    assert not parsed.bozo, f"feedparser bozo: {parsed.get('bozo_exception')!r}"
    assert parsed.version == expected_version, parsed.version
    items = []
    for entry in parsed.entries:
        items.append(
            {
                "title": entry.get("title"),
                "link": entry.get("link"),
                "id": entry.get("id"),
                "published": _struct_to_datetime(entry.get("published_parsed")),
                # keys(), not get(): feedparser 6 maps a missing updated_parsed to published_parsed (with a warning).
                "updated": _struct_to_datetime(entry["updated_parsed"]) if "updated_parsed" in entry.keys() else None,  # noqa: SIM118
            }
        )
    return items


def _struct_to_datetime(value: Any) -> datetime | None:
    return datetime(*value[:6], tzinfo=UTC) if value else None


def problems_for(path: str, data: bytes) -> list[str]:
    """Dispatch on the file extension (``.rss``, ``.atom``, ``.json``)."""
    if path.endswith(".atom"):
        return atom_problems(data)
    if path.endswith(".rss"):
        return rss2_problems(data)
    if path.endswith(".json"):
        return jsonfeed_problems(data)
    raise ValueError(f"not a feed: {path}")


def all_problems(outputs: Iterable[tuple[str, bytes]]) -> dict[str, list[str]]:
    """Problems of every feed file among ``outputs`` (path, bytes); only files with problems are listed."""
    report = {}
    for path, data in outputs:
        if path.endswith((".atom", ".rss", ".json")):
            problems = problems_for(path, data)
            if problems:
                report[path] = problems
    return report
