"""RFC 5005 feed history: archive documents that hold every item a feed ever carried.

A reader that wants to backfill follows the subscription feed's ``prev-archive`` link to the
newest archive document, and from there ``prev-archive`` links back to the oldest. Each archive
document is marked ``fh:archive``, links ``current`` (the subscription feed) and its neighbours.
JSON Feed has no such links; ``next_url`` walks the same way (the renderer maps ``prev-archive``).

The history is cut into fixed slices counted from the *oldest* item (by first publication, then
date, then id), so a new item only ever lands in the newest archive document: every older one
keeps its bytes, which is what lets readers and caches treat them as immutable. A feed whose
whole history fits in the subscription document needs no archives; it is marked ``fh:complete``.

Everything here is pure: a feed plan in, a larger feed plan out; ``feeds.render_outputs`` writes
the archive documents like any other feed (and leaves them out of the OPML and index page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from .config import Config
from .feeds import FeedPlan, FeedSpec, format_link, plan_feeds
from .model import Article, Category, sort_key

ARCHIVE_FOLDER = "archive/"
"""Archive documents live at ``<output>/archive/<feed slug>/<n>.<ext>``; n = 1 is the oldest.
(``websub.subscription_topics`` relies on this folder name.)"""


def add_archives(
    config: Config,
    plan: FeedPlan,
    articles: Sequence[Article],
    categories: Sequence[Category],
    *,
    first_seen: Mapping[str, datetime] | None = None,
) -> FeedPlan:
    """Return ``plan`` with RFC 5005 history added, or ``plan`` itself when ``feeds.archives`` is off.

    Subscription feeds whose history is longer than ``feeds.items`` gain a ``prev-archive`` link,
    and their archive documents are appended to the plan; the others are marked complete.
    ``first_seen`` maps ``Article.key`` to when the item was first published (the state
    database's pins); it keeps a back-dated late arrival from reshuffling old archive pages.
    Items without an entry there count as first seen at their publication date.
    """
    if not config.feeds.archives:
        return plan
    histories = full_histories(config, articles, categories)
    size = config.feeds.archive_size
    seen = first_seen or {}
    result: FeedPlan = []
    archive_docs: FeedPlan = []
    for spec, items in plan:
        history = histories.get(spec.slug)
        if spec.archive or history is None:
            result.append((spec, items))
            continue
        if len(history) <= len(items):
            result.append((replace(spec, complete=True), items))
            continue
        pages = paginate(history, size, seen)
        specs = [archive_spec(spec, number) for number in range(1, len(pages) + 1)]
        current = format_link(config, "current", spec, title=spec.title)
        result.append((replace(spec, links=(*spec.links, format_link(config, "prev-archive", specs[-1]))), items))
        for index, (page_spec, page) in enumerate(zip(specs, pages, strict=True)):
            links = [current]
            if index > 0:
                links.append(format_link(config, "prev-archive", specs[index - 1]))
            if index + 1 < len(specs):
                links.append(format_link(config, "next-archive", specs[index + 1]))
            archive_docs.append((replace(page_spec, links=tuple(links)), page))
    return result + archive_docs


def full_histories(
    config: Config, articles: Sequence[Article], categories: Sequence[Category]
) -> dict[str, tuple[Article, ...]]:
    """Every subscription feed's complete item list (newest first), by feed slug.

    Uses ``plan_feeds`` itself with no item limit, so membership (categories, outside items,
    the all-articles feed) can never drift from what the subscription feeds show.
    """
    unlimited = replace(config, feeds=replace(config.feeds, items=max(len(articles), 1)))
    return {spec.slug: items for spec, items in plan_feeds(unlimited, articles, categories)}


def paginate(history: Sequence[Article], size: int, first_seen: Mapping[str, datetime]) -> list[tuple[Article, ...]]:
    """Cut ``history`` into slices of ``size`` counted from the oldest item; each slice newest first."""

    def arrival(article: Article) -> tuple[datetime, float, str]:
        when = first_seen.get(article.key, article.published)
        # Never earlier than the item's own date: a record pinned before its date was moved back
        # must not jump ahead of items that really came first.
        when = max(when, article.published)
        return (when, article.published.timestamp(), article.feed_id)

    oldest_first = sorted(history, key=arrival)
    return [
        tuple(sorted(oldest_first[start : start + size], key=sort_key)) for start in range(0, len(oldest_first), size)
    ]


def archive_spec(subscription: FeedSpec, number: int) -> FeedSpec:
    """The spec of archive document ``number`` (1 = oldest) of a subscription feed, without links."""
    return replace(
        subscription,
        slug=str(number),
        title=f"{subscription.title} (archive {number})",
        path_prefix=f"{subscription.path_prefix}{ARCHIVE_FOLDER}{subscription.slug}/",
        links=(),
        archive=True,
        complete=False,
    )
