"""Items ingested from outside sources, as stored in the state database, turned into Articles."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .config import Config, SourceConfig
from .model import Article, Author, Image, Origin, SourceRef
from .store import Store, from_iso


def external_articles(config: Config, store: Store, *, mix: str, exclude_urls: Iterable[str] = ()) -> list[Article]:
    """Stored outside items of every configured source mixed into ``mix`` (``feeds`` or ``digest``).

    Items whose normalised link is in ``exclude_urls`` (already normalised, e.g. our own
    articles' URLs) are left out, so a story appears once.
    """
    sources = {s.name: s for s in config.sources if mix in s.mix}
    if not sources:
        return []
    excluded = set(exclude_urls)
    state = {row["name"]: row for row in store.db.execute("SELECT * FROM sources")}
    articles: list[Article] = []
    seen_links: set[str] = set()
    rows = store.db.execute("SELECT * FROM items ORDER BY published DESC, source, guid")
    for row in rows:
        source = sources.get(row["source"])
        if source is None or row["norm_link"] in excluded or row["norm_link"] in seen_links:
            continue
        seen_links.add(row["norm_link"])
        articles.append(_to_article(row, source, state.get(source.name)))
    return articles


def _to_article(row: object, source: SourceConfig, state: object) -> Article:
    r = row  # sqlite3.Row
    get = r.__getitem__  # type: ignore[attr-defined]
    state_get = state.__getitem__ if state is not None else (lambda _k: None)  # type: ignore[attr-defined]
    image = json.loads(get("image")) if get("image") else None
    author = get("author")
    ref = SourceRef(
        name=source.name,
        feed_url=state_get("url") or source.url,
        site_url=state_get("site_url"),
        feed_id=state_get("feed_id"),
        feed_title=state_get("feed_title"),
        full_content=source.full_content,
    )
    categories = tuple(source.categories) or tuple(json.loads(get("categories")))[:0]
    return Article(
        key=f"src:{source.name}:{get('guid')}",
        id=f"{source.name}:{get('guid')}",
        feed_id=get("guid") if ":" in get("guid") else f"{get('link')}",
        title=get("title"),
        url=get("link"),
        slug="",
        published=from_iso(get("published")),
        updated=from_iso(get("updated")),
        categories=categories,
        tags=tuple(json.loads(get("categories"))),
        authors=(Author(author),) if author else (),
        summary=get("summary"),
        content_html=get("content") if source.full_content and get("content") else None,
        image=Image(**image) if image else None,
        origin=Origin(f"source:{source.name}"),
        source=ref,
    )
