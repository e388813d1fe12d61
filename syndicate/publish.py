"""Which records are published now, and under which pinned feed id.

A record is published when it is valid, not a draft, and its date has passed. The first
time an item is published its feed id and the time are recorded in the state database;
from then on that id is kept even if the record would now derive another one (its slug,
the permalink pattern or the base URL changed), so readers never see it again as new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from .config import Config
from .errors import RecordError
from .model import Article, sort_key
from .records import (
    R_FEED_ID,
    R_KEY,
    R_ORIGIN,
    R_PUB,
    R_URL,
    Rec,
    RecordIndex,
    from_micros,
    load_record_index,
    rec_to_article,
    to_micros,
)
from .store import Pin, Store


@dataclass(frozen=True)
class Published:
    """The site's published articles, pinned ids, newest first."""

    articles: tuple[Article, ...]
    records_read: int
    warnings: tuple[str, ...]


def load_published(config: Config, store: Store, *, now: datetime, skip_invalid: bool = False) -> Published:
    """Read every record, pin newly published ones, and return the published articles.

    Raises RecordError (holding every problem) if any record is invalid, unless
    ``skip_invalid``: then the invalid records are left out and named in the warnings.
    """
    index = load_record_index(config)
    warnings = list(problem_warnings(index, skip_invalid=skip_invalid))
    recs = published_recs(index.recs, now)
    feed_ids, notices = pin_records(store, recs, now=now)
    warnings.extend(notices)
    articles = [_with_feed_id(rec, feed_ids) for rec in recs]
    articles.sort(key=sort_key)
    return Published(tuple(articles), index.records_read, (*index.warnings, *warnings))


def problem_warnings(index: RecordIndex, *, skip_invalid: bool) -> list[str]:
    """Raise RecordError for any problem, or (``skip_invalid``) turn each into a warning."""
    if not index.problems:
        return []
    if not skip_invalid:
        raise RecordError(list(index.problems))
    return [f"skipped invalid record: {problem}" for problem in index.problems]


def published_recs(recs: Iterable[Rec], now: datetime) -> list[Rec]:
    """Records whose date has passed at ``now`` (drafts are never in ``recs``)."""
    cutoff = to_micros(now.astimezone(UTC))
    return [rec for rec in recs if rec[R_PUB] <= cutoff]


def next_publication(recs: Iterable[Rec], now: datetime) -> datetime | None:
    """When the next future-dated record becomes published (None if there is none)."""
    cutoff = to_micros(now.astimezone(UTC))
    future = [rec[R_PUB] for rec in recs if rec[R_PUB] > cutoff]
    if not future:
        return None
    return from_micros(min(future))


def pin_records(
    store: Store, recs: Sequence[Rec], *, now: datetime, dry_run: bool = False
) -> tuple[dict[str, str], list[str]]:
    """Pin newly published records; return {key: feed id} where it differs from the derived one, and notices.

    A record whose key changed (its file was renamed) but whose derived id is pinned to a key no
    record has any more takes that pin over. ``dry_run`` computes the same without writing.
    """
    pinned: dict[str, str] = {}
    owner: dict[str, str] = {}
    for key, feed_id in store.db.execute("SELECT key, feed_id FROM published"):
        pinned[key] = feed_id
        owner[feed_id] = key
    present = {rec[R_KEY] for rec in recs}
    overrides: dict[str, str] = {}
    notices: list[str] = []
    new_pins: list[Pin] = []
    moves: list[tuple[str, str]] = []
    for rec in recs:
        key, derived = rec[R_KEY], rec[R_FEED_ID]
        kept = pinned.get(key)
        if kept is not None:
            if kept != derived:
                overrides[key] = kept
                notices.append(
                    f"{_where(rec)}: kept feed id {kept!r} (the record now gives {derived!r}: its id, slug,"
                    " date, URL pattern or base URL changed; readers keep seeing the item as before)"
                )
            continue
        holder = owner.get(derived)
        if holder is None:
            new_pins.append(Pin(key, derived, rec[R_URL], now))
            owner[derived] = key
        elif holder not in present:
            moves.append((holder, key))
            owner[derived] = key
        else:
            unique = f"{derived}.{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}"
            overrides[key] = unique
            new_pins.append(Pin(key, unique, rec[R_URL], now))
            notices.append(f"{_where(rec)}: feed id {derived!r} is already used by {holder}; using {unique!r}")
    if not dry_run:
        store.add_pins(new_pins)
        if moves:
            with store.transaction() as db:
                db.executemany("UPDATE published SET key = ? WHERE key = ?", [(new, old) for old, new in moves])
    return overrides, notices


def _with_feed_id(rec: Rec, feed_ids: dict[str, str]) -> Article:
    article = rec_to_article(rec)
    pinned = feed_ids.get(rec[R_KEY])
    return replace(article, feed_id=pinned) if pinned is not None else article


def _where(rec: Rec) -> str:
    path, line, _ = rec[R_ORIGIN]
    return f"{path}:{line}" if line else path
