"""Outside sources and their items in the state database, and those items as Articles.

Tables ``sources`` (fetch state: URL after permanent redirects, validators, failures,
backoff) and ``items`` (one row per entry ever seen, updated in place). Every write for
one source is one transaction, so a failure mid-way leaves the previous state intact.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .config import Config, SourceConfig
from .model import Article, Author, Image, Origin, SourceRef
from .sanitize import html_to_text, truncate_text
from .store import Store, from_iso, to_iso
from .urlnorm import normalise_url

if TYPE_CHECKING:  # the parser (and feedparser) load only when a command ingests
    from .feedparse import ParsedEntry, ParsedFeed

SUMMARY_CHARS = 300


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about one source between runs."""

    name: str
    url: str
    """URL fetched now: the configured one, or where a permanent redirect pointed."""
    config_url: str
    etag: str | None
    last_modified: str | None
    last_fetch: datetime | None
    last_status: str | None
    last_error: str | None
    failures: int
    next_attempt: datetime | None
    disabled: bool
    feed_title: str | None
    feed_id: str | None
    site_url: str | None
    self_url: str | None = None

    @property
    def moved(self) -> bool:
        return self.url != self.config_url


@dataclass(frozen=True)
class MergeCounts:
    new: int
    changed: int
    removed: int
    held: int


def sync_sources(store: Store, sources: Iterable[SourceConfig]) -> None:
    """Make sure every configured source has a row; a source whose configured URL changed starts afresh."""
    with store.transaction() as db:
        for source in sources:
            row = db.execute("SELECT config_url FROM sources WHERE name = ?", (source.name,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO sources(name, url, config_url) VALUES (?, ?, ?)", (source.name, source.url, source.url)
                )
            elif row["config_url"] != source.url:
                db.execute(
                    "UPDATE sources SET url = ?, config_url = ?, etag = NULL, last_modified = NULL, failures = 0,"
                    " next_attempt = NULL, disabled = 0 WHERE name = ?",
                    (source.url, source.url, source.name),
                )


def source_states(store: Store) -> dict[str, SourceState]:
    """Every source row, by name."""
    return {row["name"]: _state(row) for row in store.db.execute("SELECT * FROM sources")}


def item_counts(store: Store) -> dict[str, int]:
    """Items held per source."""
    return {row[0]: row[1] for row in store.db.execute("SELECT source, COUNT(*) FROM items GROUP BY source")}


def record_failure(
    store: Store, name: str, *, now: datetime, status: str, error: str, next_attempt: datetime, disable: bool
) -> int:
    """Count a failed fetch and schedule the next attempt; return the consecutive failures so far."""
    with store.transaction() as db:
        db.execute(
            "UPDATE sources SET last_fetch = ?, last_status = ?, last_error = ?, failures = failures + 1,"
            " next_attempt = ?, disabled = disabled OR ? WHERE name = ?",
            (to_iso(now), status, error, to_iso(next_attempt), int(disable), name),
        )
        row = db.execute("SELECT failures FROM sources WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def record_not_modified(
    store: Store,
    name: str,
    *,
    now: datetime,
    url: str,
    etag: str | None,
    last_modified: str | None,
    next_attempt: datetime,
) -> None:
    """A 304: nothing to parse; the source is healthy again."""
    with store.transaction() as db:
        db.execute(
            "UPDATE sources SET url = ?, etag = ?, last_modified = ?, last_fetch = ?, last_status = '304',"
            " last_error = NULL, failures = 0, next_attempt = ? WHERE name = ?",
            (url, etag, last_modified, to_iso(now), to_iso(next_attempt), name),
        )


def record_feed(
    store: Store,
    source: SourceConfig,
    feed: ParsedFeed,
    *,
    now: datetime,
    url: str,
    etag: str | None,
    last_modified: str | None,
    next_attempt: datetime,
    note: str | None,
) -> MergeCounts:
    """Store a fetched feed's entries (new ones added, changed ones updated in place) and apply retention.

    Entries that no longer appear in the remote feed stay until ``max_items`` or
    ``max_age_days`` removes them. Entries filtered out by include/exclude are not stored.
    """
    cutoff = now - timedelta(days=source.max_age_days)
    seen_now = store.first_seen_time(now)
    new = changed = 0
    with store.transaction() as db:
        existing = {
            row["guid"]: row
            for row in db.execute(
                "SELECT guid, content_hash, published, first_seen FROM items WHERE source = ?", (source.name,)
            )
        }
        touched: list[tuple[str, str, str]] = []
        for entry in feed.entries:
            if not keep_entry(source, entry.title, entry.summary_html or entry.content_html):
                continue
            old = existing.get(entry.guid)
            first_seen = from_iso(old["first_seen"]) if old else seen_now
            published = entry.published or entry.updated or first_seen
            if published < cutoff:
                continue
            digest = entry.content_hash()
            if old is not None and old["content_hash"] == digest:
                touched.append((to_iso(now), source.name, entry.guid))
                continue
            values = _item_values(source.name, entry, published=published, digest=digest)
            if old is None:
                db.execute(
                    "INSERT INTO items(source, guid, title, link, norm_link, published, updated, author, categories,"
                    " summary, content, image, content_hash, first_seen, last_seen)"
                    " VALUES (:source, :guid, :title, :link, :norm_link, :published, :updated, :author, :categories,"
                    " :summary, :content, :image, :content_hash, :first_seen, :now)",
                    {**values, "now": to_iso(now), "first_seen": to_iso(seen_now)},
                )
                new += 1
            else:
                db.execute(
                    "UPDATE items SET title = :title, link = :link, norm_link = :norm_link, published = :published,"
                    " updated = :updated, author = :author, categories = :categories, summary = :summary,"
                    " content = :content, image = :image, content_hash = :content_hash, last_seen = :now"
                    " WHERE source = :source AND guid = :guid",
                    {**values, "now": to_iso(now)},
                )
                changed += 1
        db.executemany("UPDATE items SET last_seen = ? WHERE source = ? AND guid = ?", touched)
        db.execute(
            "UPDATE sources SET url = ?, etag = ?, last_modified = ?, last_fetch = ?, last_status = '200',"
            " last_error = ?, failures = 0, next_attempt = ?, feed_title = ?, feed_id = ?, site_url = ?,"
            " self_url = ? WHERE name = ?",
            (
                url, etag, last_modified, to_iso(now), note, to_iso(next_attempt), feed.title or None,
                feed.feed_id, feed.site_url, feed.self_url, source.name,
            ),
        )  # fmt: skip
        removed = _apply_retention(db, source, now=now)
        held = db.execute("SELECT COUNT(*) FROM items WHERE source = ?", (source.name,)).fetchone()[0]
    return MergeCounts(new=new, changed=changed, removed=removed, held=int(held))


def apply_retention(store: Store, sources: Iterable[SourceConfig], *, now: datetime) -> int:
    """Drop items past ``max_age_days`` or beyond ``max_items`` for every source; return how many went."""
    with store.transaction() as db:
        return sum(_apply_retention(db, source, now=now) for source in sources)


def _apply_retention(db: sqlite3.Connection, source: SourceConfig, *, now: datetime) -> int:
    cutoff = to_iso(now - timedelta(days=source.max_age_days))
    removed = db.execute("DELETE FROM items WHERE source = ? AND published < ?", (source.name, cutoff)).rowcount
    removed += db.execute(
        "DELETE FROM items WHERE source = ? AND rowid NOT IN"
        " (SELECT rowid FROM items WHERE source = ? ORDER BY published DESC, guid LIMIT ?)",
        (source.name, source.name, max(source.max_items, 0)),
    ).rowcount
    return int(removed)


def _item_values(source: str, entry: ParsedEntry, *, published: datetime, digest: str) -> dict[str, object]:
    updated = max(entry.updated or published, published)
    # Entries without a link of their own share the site's URL: never let them count as duplicates.
    norm_link = normalise_url(entry.link) if entry.own_link else f"nolink:{source}:{entry.guid}"
    return {
        "source": source,
        "guid": entry.guid,
        "title": entry.title,
        "link": entry.link,
        "norm_link": norm_link,
        "published": to_iso(published),
        "updated": to_iso(updated),
        "author": entry.author,
        "categories": json.dumps(list(entry.categories), ensure_ascii=False),
        "summary": entry.summary_html,
        "content": entry.content_html,
        "image": json.dumps({k: v for k, v in asdict(entry.image).items() if v not in (None, "")})
        if entry.image
        else None,
        "content_hash": digest,
    }


def keep_entry(source: SourceConfig, title: str, summary_html: str) -> bool:
    """The source's include/exclude keyword filters: whole words, case-insensitive, on title and summary."""
    if not source.include and not source.exclude:
        return True
    text = f"{title}\n{html_to_text(summary_html)}"
    if source.include and not any(_has_word(text, word) for word in source.include):
        return False
    return not any(_has_word(text, word) for word in source.exclude)


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word.strip())}(?!\w)", text, re.IGNORECASE) is not None


def external_articles(config: Config, store: Store, *, mix: str, exclude_urls: Iterable[str] = ()) -> list[Article]:
    """Stored outside items of every configured source mixed into ``mix`` (``feeds`` or ``digest``).

    ``exclude_urls`` are our own articles' URLs passed through ``urlnorm.normalise_url``;
    an outside item linking to one of them is left out. Of several items linking to the
    same story (same normalised link) only the earliest published is kept. Items of
    disabled sources stay until retention removes them. Newest first, total order.
    Summaries are plain text (cut near 300 characters); ``content_html`` is set only for
    sources with ``full_content = true``.
    """
    sources = {s.name: s for s in config.sources if mix in s.mix}
    if not sources:
        return []
    excluded = set(exclude_urls)
    states = source_states(store)
    placeholders = ",".join("?" * len(sources))
    rows = store.db.execute(
        f"SELECT * FROM items WHERE source IN ({placeholders}) ORDER BY published, source, guid",
        tuple(sorted(sources)),
    )
    chosen: dict[str, Article] = {}
    for row in rows:
        if row["norm_link"] in excluded or row["norm_link"] in chosen:
            continue
        source = sources[row["source"]]
        if not keep_entry(source, row["title"], row["summary"] or row["content"]):
            continue
        chosen[row["norm_link"]] = _to_article(row, source, states.get(source.name), config=config)
    articles = list(chosen.values())
    articles.sort(key=lambda a: (-a.published.timestamp(), a.key))
    return articles


def _to_article(row: sqlite3.Row, source: SourceConfig, state: SourceState | None, *, config: Config) -> Article:
    guid = row["guid"]
    image = json.loads(row["image"]) if row["image"] else None
    ref = SourceRef(
        name=source.name,
        feed_url=public_feed_url(state.url if state else source.url, state.self_url if state else None),
        site_url=state.site_url if state else None,
        feed_id=state.feed_id if state else None,
        feed_title=state.feed_title if state else None,
        full_content=source.full_content,
    )
    summary_html = row["summary"] or row["content"]
    digest = hashlib.sha1(f"{source.name}\x1f{guid}".encode()).hexdigest()
    # The original guid is kept as our feed id when it is a URI, so readers subscribed to
    # both feeds can tell it is the same story; otherwise a tag URI under our own authority.
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$", guid) and not guid.startswith("sha1:"):
        feed_id = guid
    else:
        authority = config.site.tag_authority or (urlsplit(config.site.url).hostname or "localhost")
        date = config.site.tag_date or row["first_seen"][:4]
        feed_id = f"tag:{authority},{date}:source/{digest}"
    return Article(
        key=f"src:{source.name}:{guid}",
        id=f"{source.name}:{guid}",
        feed_id=feed_id,
        title=row["title"],
        url=row["link"],
        slug=f"source-{digest[:12]}",
        published=from_iso(row["published"]),
        updated=from_iso(row["updated"]),
        categories=tuple(source.categories),
        tags=tuple(json.loads(row["categories"])),
        authors=(Author(row["author"]),) if row["author"] else (),
        summary=truncate_text(html_to_text(summary_html), SUMMARY_CHARS),
        content_html=(row["content"] or row["summary"] or None) if source.full_content else None,
        image=Image(**image) if image else None,
        origin=Origin(f"source:{source.name}"),
        extra={"summary_html": row["summary"]} if source.full_content else {},
        source=ref,
    )


def public_feed_url(fetched: str, self_url: str | None) -> str:
    """The URL attribution may point readers to: the fetched URL when it is http(s), else the
    feed's own self link, else empty (a local file path means nothing to a reader)."""
    for candidate in (fetched, self_url):
        if candidate and urlsplit(candidate).scheme in ("http", "https"):
            return candidate
    return ""


def _state(row: sqlite3.Row) -> SourceState:
    return SourceState(
        name=row["name"],
        url=row["url"],
        config_url=row["config_url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_fetch=from_iso(row["last_fetch"]) if row["last_fetch"] else None,
        last_status=row["last_status"],
        last_error=row["last_error"],
        failures=int(row["failures"]),
        next_attempt=from_iso(row["next_attempt"]) if row["next_attempt"] else None,
        disabled=bool(row["disabled"]),
        feed_title=row["feed_title"],
        feed_id=row["feed_id"],
        site_url=row["site_url"],
        self_url=row["self_url"],
    )
