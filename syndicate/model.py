"""The value types every stage passes around. Imports nothing from the package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Author:
    name: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Image:
    url: str
    alt: str = ""
    type: str | None = None
    width: int | None = None
    height: int | None = None
    length: int | None = None


@dataclass(frozen=True)
class Origin:
    """Where a record came from: for error messages and for reading its body lazily."""

    path: str
    """Path relative to the site root (POSIX separators)."""
    line: int | None = None
    """1-based line of the record in its file, where the format has lines."""
    index: int | None = None
    """Position of the record inside a multi-record file (JSON array, JSONL, YAML list)."""

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class Body:
    """An article body, kept unread for Markdown files until a feed needs it.

    ``format`` is ``"markdown"`` or ``"html"``. Either ``text`` holds the body, or
    ``path``/``offset`` say where in a file it starts (the rest of the file).
    """

    format: str
    text: str | None = None
    path: str | None = None
    offset: int = 0


@dataclass(frozen=True)
class SourceRef:
    """Attribution of an item ingested from an outside feed."""

    name: str
    feed_url: str
    site_url: str | None = None
    feed_id: str | None = None
    feed_title: str | None = None
    full_content: bool = False


@dataclass(frozen=True)
class Article:
    """One published (or publishable) item: a site record or an ingested outside item.

    Datetimes are timezone-aware UTC. ``feed_id`` is the identity readers see; it is
    pinned in the state database the first time the item is published.
    """

    key: str
    """Stable identity for pinning: ``id:<id>``, ``file:<path>[#n]``, or ``src:<name>:<guid>`` (outside items)."""
    id: str
    feed_id: str
    title: str
    url: str
    slug: str
    published: datetime
    updated: datetime
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    authors: tuple[Author, ...] = ()
    summary: str = ""
    body: Body | None = None
    content_html: str | None = None
    """Rendered, absolute-URL HTML; None until rendered (see ``records.render_content``)."""
    image: Image | None = None
    language: str | None = None
    featured: bool = False
    draft: bool = False
    origin: Origin = field(default_factory=lambda: Origin(""))
    # default_factory: Python 3.11 rejects an unhashable mappingproxy as a plain default.
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    source: SourceRef | None = None

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def is_external(self) -> bool:
        return self.source is not None


@dataclass(frozen=True)
class Category:
    """A category as feeds and the digest show it."""

    name: str
    slug: str
    title: str
    description: str = ""
    order: int = 0


def sort_key(article: Article) -> tuple[float, str]:
    """Newest first, then by feed id: a total order that does not depend on input order."""
    return (-article.published.timestamp(), article.feed_id)
