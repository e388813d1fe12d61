"""Related articles ("You may also like"): shared categories and tags plus TF-IDF text similarity.

Build a :class:`RelatedIndex` once over the whole archive, then ask it for the related
items of any article::

    index = RelatedIndex.build(config, archive, cache_dir=config.state_dir)
    for item in index.related(article, limit=3):
        print(item.score, item.article.title, "; ".join(item.reasons))

Score = (text cosine + category bonus + tag bonus) x recency factor. Text vectors come
from :mod:`syndicate.textindex`, which keeps them on disk so a warm run reads no bodies.
Order is total: score (rounded to 1e-9 so float noise cannot reorder), then publication
date (newest first), then feed id.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from .config import Config
from .errors import SyndicateError
from .model import Article, sort_key
from .store import Store
from .textindex import INDEX_FILENAME, FloatArray, IntArray, TermIndex, load_index, save_index, sync_index, term_counts
from .urlnorm import normalise_url

CATEGORY_WEIGHT = 0.1
"""Added per shared category: categories are broad, so they only nudge."""
TAG_WEIGHT = 0.15
"""Added per shared tag, scaled by how rare the tag is (a tag on every article adds nothing)."""
TAG_CAP = 0.45
RECENCY_FLOOR = 0.85
"""The oldest article keeps this fraction of its score: a mild preference for recent ones."""
RECENCY_HALF_LIFE_DAYS = 365.0
SCORE_DECIMALS = 9


class UnknownArticleError(SyndicateError):
    """No published article matches the identifier given."""


@dataclass(frozen=True)
class RelatedItem:
    article: Article
    score: float
    reasons: tuple[str, ...]
    """Human-readable parts of the score, e.g. ``("shared tags: gas, lng", "text similarity 0.41")``."""


def _default_text(article: Article) -> str:
    from .records import body_text

    return body_text(article)


def fingerprint(article: Article, root: str | Path) -> str:
    """What the text vector of ``article`` depends on: title, summary and the body's identity.

    A body left in its file is identified by path, offset, size and mtime, so a warm run
    needs one ``stat`` per article instead of reading it.
    """
    parts = [article.title, article.summary]
    body = article.body
    if body is not None:
        if body.text is not None:
            parts += [body.format, "t", body.text]
        elif body.path is not None:
            try:
                st = os.stat(os.path.join(root, body.path))  # an absolute body.path wins over root
                identity = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                identity = "missing"
            parts += [body.format, "f", body.path, str(body.offset), identity]
    if article.content_html is not None:
        parts += ["h", article.content_html]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _norm_label(label: str) -> str:
    return " ".join(label.casefold().split())


class RelatedIndex:
    """Related-article lookups over one archive. Build it with :meth:`build`."""

    def __init__(self, articles: Sequence[Article], terms: TermIndex, *, text: Callable[[Article], str]) -> None:
        # ``articles`` is in canonical order (sort_key), so row numbers double as the date/feed-id tie-break.
        self.articles = tuple(articles)
        self.terms = terms
        self._text = text
        self._weights = terms.weights()
        self._row = {a.key: i for i, a in enumerate(self.articles)}
        self._postings: tuple[IntArray, IntArray, IntArray] | None = None
        self._norm_urls: dict[int, str] = {}
        n = len(self.articles)
        self._categories = self._label_index(lambda a: a.categories)
        self._tags = self._label_index(lambda a: a.tags)
        stamps = np.array([a.published.timestamp() for a in self.articles], np.float64)
        ages = (stamps.max() - stamps) / 86400.0 if n else stamps
        self._recency = RECENCY_FLOOR + (1.0 - RECENCY_FLOOR) * np.power(0.5, ages / RECENCY_HALF_LIFE_DAYS)
        self._tag_rarity = {
            tag: (math.log((1.0 + n) / (1.0 + len(rows))) / math.log(1.0 + n) if n > 1 else 0.0)
            for tag, rows in self._tags.items()
        }

    @classmethod
    def build(
        cls,
        config: Config,
        articles: Sequence[Article],
        *,
        cache_dir: Path | None = None,
        text: Callable[[Article], str] | None = None,
    ) -> RelatedIndex:
        """Index ``articles`` (the whole archive, outside items included).

        With ``cache_dir`` the term vectors persist there and only new or changed
        articles are read; ``text`` gives an article's body text (default: its Markdown
        or HTML body as plain text).
        """
        text_of = text or _default_text
        ordered: list[Article] = []
        seen: set[str] = set()
        # A key given twice keeps the copy that sorts first, whatever the input order.
        for article in sorted(articles, key=lambda a: (*sort_key(a), a.key)):
            if article.key not in seen:
                seen.add(article.key)
                ordered.append(article)
        root = str(config.root)
        entries = [(a.key, fingerprint(a, root)) for a in ordered]
        path = Path(cache_dir) / INDEX_FILENAME if cache_dir is not None else None
        old = load_index(path) if path is not None else None

        def read(i: int) -> tuple[str, str, str]:
            a = ordered[i]
            return a.title, a.summary, text_of(a)

        terms, changed = sync_index(old, entries, read)
        if path is not None and changed:
            save_index(path, terms)
        return cls(ordered, terms, text=text_of)

    def related(self, article: Article, *, limit: int = 3) -> list[RelatedItem]:
        """Up to ``limit`` related articles, best first; never ``article`` itself or an item with its URL."""
        if limit <= 0 or not self.articles:
            return []
        q_terms, q_weights = self._query_vector(article)
        text_sim = self._text_similarity(q_terms, q_weights)
        n = len(self.articles)
        categories = np.zeros(n)
        query_categories = _unique_labels(article.categories)
        for label in query_categories:
            rows = self._categories.get(label)
            if rows is not None:
                categories[rows] += CATEGORY_WEIGHT
        tags = np.zeros(n)
        query_tags = _unique_labels(article.tags)
        for label in query_tags:
            rows = self._tags.get(label)
            if rows is not None:
                tags[rows] += TAG_WEIGHT * self._tag_rarity[label]
        tags = np.minimum(tags, TAG_CAP)
        score = np.round((text_sim + categories + tags) * self._recency, SCORE_DECIMALS).astype(np.float64)
        own_row = self._row.get(article.key)
        if own_row is not None:
            score[own_row] = 0.0

        own_url = normalise_url(article.url)
        taken = {own_url}
        chosen: list[int] = []
        for row in self._ranked(score, limit):
            url = self._norm_url(row)
            if url in taken:
                continue
            taken.add(url)
            chosen.append(row)
            if len(chosen) == limit:
                break
        q_cats = {_norm_label(c): c for c in article.categories}
        q_tags = {_norm_label(t): t for t in article.tags}
        return [
            RelatedItem(
                article=self.articles[row],
                score=round(float(score[row]), 6),
                reasons=self._reasons(row, q_cats, q_tags, float(text_sim[row])),
            )
            for row in chosen
        ]

    # -- internals -------------------------------------------------------------

    def _label_index(self, labels: Callable[[Article], Sequence[str]]) -> dict[str, IntArray]:
        rows: dict[str, list[int]] = {}
        normal: dict[str, str] = {}
        for i, article in enumerate(self.articles):
            found = labels(article)
            if not found:
                continue
            norms = {normal.get(label) or normal.setdefault(label, _norm_label(label)) for label in found}
            for norm in norms:
                if norm:
                    rows.setdefault(norm, []).append(i)
        return {label: np.array(r, np.int64) for label, r in rows.items()}

    def _query_vector(self, article: Article) -> tuple[IntArray, FloatArray]:
        row = self._row.get(article.key)
        if row is not None and self.articles[row] == article:
            start, end = self.terms.indptr[row], self.terms.indptr[row + 1]
            return self.terms.terms[start:end], self._weights[start:end]
        # Not in the archive (or a different version of it): vectorise against the archive's statistics.
        counts = term_counts(article.title, article.summary, self._text(article))
        return self.terms.query_vector(counts)

    def _text_similarity(self, q_terms: IntArray, q_weights: FloatArray) -> FloatArray:
        n = len(self.articles)
        if not len(q_terms):
            return np.zeros(n)
        order, term_ptr, docs = self._inverted()
        starts, ends = term_ptr[q_terms], term_ptr[q_terms + 1]
        lengths = ends - starts
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        entries = order[gather]
        contributions = self._weights[entries] * np.repeat(q_weights, lengths)
        return np.bincount(docs[entries], weights=contributions, minlength=n).astype(np.float64)

    def _inverted(self) -> tuple[IntArray, IntArray, IntArray]:
        """Entries sorted by term (postings), start of each term's postings, and each entry's document."""
        if self._postings is None:
            terms = self.terms.terms
            order = self.terms.postings()
            term_ptr = np.concatenate(([0], np.cumsum(np.bincount(terms, minlength=len(self.terms.vocab)))))
            lengths = np.diff(self.terms.indptr)
            docs = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
            self._postings = (order.astype(np.int64), term_ptr.astype(np.int64), docs)
        return self._postings

    def _ranked(self, score: FloatArray, limit: int) -> list[int]:
        """Rows with a positive score, best first; the top few first, the rest only if asked for."""
        positive = int(np.count_nonzero(score > 0))
        if positive == 0:
            return []
        wanted = min(positive, 4 * limit + 16)
        top = np.argpartition(-score, wanted - 1)[:wanted]
        threshold = score[top].min()
        # Everything tied with the cut-off comes along, so ties are broken by the full key, not by argpartition.
        head = np.flatnonzero(score >= threshold)
        head = head[np.lexsort((head, -score[head]))]
        rows = [int(r) for r in head]
        if len(rows) < positive:
            rest = np.flatnonzero((score > 0) & (score < threshold))
            rows.extend(int(r) for r in rest[np.lexsort((rest, -score[rest]))])
        return rows

    def _norm_url(self, row: int) -> str:
        url = self._norm_urls.get(row)
        if url is None:
            url = self._norm_urls[row] = normalise_url(self.articles[row].url)
        return url

    def _reasons(self, row: int, q_cats: dict[str, str], q_tags: dict[str, str], text_sim: float) -> tuple[str, ...]:
        other = self.articles[row]
        reasons: list[str] = []
        cats = [q_cats[k] for k in sorted(q_cats) if k in {_norm_label(c) for c in other.categories}]
        if cats:
            reasons.append(f"shared {'category' if len(cats) == 1 else 'categories'}: {', '.join(cats)}")
        tags = [q_tags[k] for k in sorted(q_tags) if k in {_norm_label(t) for t in other.tags}]
        if tags:
            reasons.append(f"shared {'tag' if len(tags) == 1 else 'tags'}: {', '.join(tags)}")
        if text_sim > 0:
            reasons.append(f"text similarity {text_sim:.2f}")
        reasons.append(f"recency x{self._recency[row]:.2f}")
        return tuple(reasons)


def _unique_labels(labels: Sequence[str]) -> list[str]:
    return sorted({_norm_label(label) for label in labels if label.strip()})


def find_article(articles: Sequence[Article], ident: str) -> Article:
    """The article whose record id, key or file, feed id, URL or slug is ``ident`` (tried in that order).

    Raises UnknownArticleError if none matches, or if a slug matches several articles.
    """
    wanted = ident.strip()
    norm = normalise_url(wanted)
    tiers: tuple[Callable[[Article], bool], ...] = (
        lambda a: a.id == wanted or a.key == wanted or (not a.source and a.origin.path == wanted),
        lambda a: a.feed_id == wanted,
        lambda a: "://" in wanted and normalise_url(a.url) == norm,
        lambda a: bool(a.slug) and a.slug == wanted,
    )
    for matches in tiers:
        found = sorted((a for a in articles if matches(a)), key=sort_key)
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(a.origin.where() or a.key for a in found[:5])
            raise UnknownArticleError(f"{ident!r} matches {len(found)} articles ({names}); use a record id or URL")
    raise UnknownArticleError(f"no published article has the id, feed id, URL or slug {ident!r}")


def load_archive(config: Config, store: Store, *, now: datetime, skip_invalid: bool = False) -> list[Article]:
    """Everything related items may be drawn from: the site's published articles and stored outside items.

    Outside items are those of sources mixed into the digest; one whose link is one of
    our own articles is left out, so a story appears once. ``skip_invalid`` leaves invalid
    records out instead of raising RecordError.
    """
    from .itemstore import external_articles
    from .publish import load_published

    published = load_published(config, store, now=now, skip_invalid=skip_invalid)
    own = list(published.articles)
    outside = external_articles(config, store, mix="digest", exclude_urls={normalise_url(a.url) for a in own})
    return own + [item for item in outside if item.published <= now]


__all__ = ["RelatedIndex", "RelatedItem", "UnknownArticleError", "find_article", "fingerprint", "load_archive"]
