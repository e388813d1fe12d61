"""Category slugs: ASCII, readable, stable across builds and collision-free for any Unicode name."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from anyascii import anyascii

from .config import Config
from .errors import ConfigError
from .model import Category

MAX_SLUG_LENGTH = 60
"""Derived slugs are cut at a hyphen near this length; file names stay short on every file system."""

RESERVED_SLUGS = frozenset({"index", "feed"})
"""Stems of files the feed folder already holds (index.html, index.opml, feed.xsl)."""

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def category_slug(name: str) -> str:
    """Return a readable ASCII slug for ``name``: "Économie" -> "economie", "Türkiye" -> "turkiye".

    Names with nothing transliterable (only punctuation, say) get ``c-`` plus a hash of the name,
    so the slug is still stable and distinct.
    """
    slug = _NON_SLUG.sub("-", anyascii(name).lower()).strip("-")
    if len(slug) > MAX_SLUG_LENGTH:
        cut = slug[:MAX_SLUG_LENGTH]
        slug = cut.rsplit("-", 1)[0] if "-" in cut[MAX_SLUG_LENGTH // 2 :] else cut
        slug = slug.strip("-")
    return slug or f"c-{_name_hash(name, 8)}"


def build_categories(config: Config, names: Iterable[str], pinned: Mapping[str, str]) -> list[Category]:
    """Return every category, slugs resolved, sorted by configured order then name.

    The set is the union of ``names`` (from the records), the ``pinned`` names (from earlier
    builds, so a category that lost all its articles keeps its feed) and the categories named in
    the config. Slug priority: ``[categories.NAME] slug`` in the config, then the pinned slug, then
    the derived one. A slug claimed twice, or one of the reserved stems (``index``, ``feed``, the
    all-articles slug), is resolved by the claimants' priority and then their names, never by input
    order: the loser gets a short hash suffix of its name. ``Category.order`` is the list position.
    Raises ConfigError when two configured slugs clash or a configured slug is reserved.
    """
    reserved = RESERVED_SLUGS | {config.feeds.all_slug}
    all_names = {n for n in (*names, *pinned, *config.categories) if n and n.strip()}

    # Claim: (priority, name, wanted slug). 0 = configured, 1 = pinned, 2 = derived.
    claims: dict[str, tuple[int, str]] = {}
    for name in all_names:
        configured = config.categories.get(name)
        if configured is not None and configured.slug:
            slug = category_slug(configured.slug)
            if slug in reserved:
                use = _reserved_use(slug, config)
                raise ConfigError(f"{config.path}: categories.{name}.slug: {slug!r} is reserved (used by {use})")
            claims[name] = (0, slug)
        elif pinned.get(name):
            claims[name] = (1, pinned[name])
        else:
            claims[name] = (2, category_slug(name))

    taken: dict[str, str] = {}
    resolved: dict[str, str] = {}
    for name in sorted(all_names, key=lambda n: (claims[n][0], n)):
        priority, slug = claims[name]
        holder = taken.get(slug)
        if holder is not None and priority == 0 and claims[holder][0] == 0:
            raise ConfigError(
                f"{config.path}: categories.{name}.slug: {slug!r} is also the slug of category {holder!r}"
            )
        if holder is not None or slug in reserved:
            slug = _suffixed(slug, name, taken, reserved)
        taken[slug] = name
        resolved[name] = slug

    def order_key(name: str) -> tuple[int, int, str, str]:
        configured = config.categories.get(name)
        order = configured.order if configured is not None else None
        return (0 if order is not None else 1, order or 0, name.casefold(), name)

    categories = []
    for position, name in enumerate(sorted(all_names, key=order_key)):
        configured = config.categories.get(name)
        categories.append(
            Category(
                name=name,
                slug=resolved[name],
                title=(configured.title if configured is not None and configured.title else name),
                description=configured.description if configured is not None else "",
                order=position,
            )
        )
    return categories


def _suffixed(slug: str, name: str, taken: Mapping[str, str], reserved: frozenset[str]) -> str:
    for length in range(6, 41):
        candidate = f"{slug}-{_name_hash(name, length)}"
        if candidate not in taken and candidate not in reserved:
            return candidate
    raise AssertionError(f"no free slug for category {name!r}")  # pragma: no cover - 160-bit collision


def _name_hash(name: str, length: int) -> str:
    return hashlib.sha1(name.encode("utf-8")).hexdigest()[:length]


def _reserved_use(slug: str, config: Config) -> str:
    if slug == config.feeds.all_slug:
        return "the all-articles feed"
    return f"{slug}.* files in the feed folder"
