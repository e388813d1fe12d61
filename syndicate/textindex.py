"""Sparse TF-IDF term vectors for every article, kept on disk and updated incrementally.

Reading and tokenising a large archive's bodies is slow, so each document's top terms
are stored in ``related-index.npz`` next to the state database, keyed by the article's
key and a fingerprint of its text. A later run re-reads only new or changed articles.

What is stored per document is the *raw* weighted term frequency of its ``TERMS_PER_DOC``
best terms; TF-IDF weights and norms are recomputed from the current document
frequencies on every load (a few vectorised operations), so old vectors do not go stale
as the archive grows. Document frequencies only ever grow (a removed or changed document
cannot be subtracted, because its full term set is not kept), so the index is rebuilt
from scratch once the documents ever counted outnumber the live ones by ``REBUILD_FACTOR``.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import zipfile
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .fsutil import atomic_write_bytes

log = logging.getLogger(__name__)

INDEX_FILENAME = "related-index.npz"
FORMAT = "syndicate-related-index/1"
TERMS_PER_DOC = 48
TITLE_WEIGHT = 3
SUMMARY_WEIGHT = 2
MAX_BODY_CHARS = 20_000
"""Long bodies are cut here: the opening of a news article carries its topic."""
REBUILD_FACTOR = 1.5
PRUNE_BATCH = 10_000

_TOKEN = re.compile(r"[^\W\d_]{2,30}")
# Markup that would otherwise leave "https", "strong", "href" in every vector.
_MARKUP = re.compile(r"<[^>]*>|\]\([^)]*\)|https?://\S+|&[a-z]+;|&#\d+;")

_STOPWORD_TEXT = """
    about above after again against all also am an and any are aren as at be because been before being below
    between both but by can cannot could couldn did didn do does doesn doing don down during each few for from
    further had hadn has hasn have haven having he her here hers herself him himself his how if in into is isn
    it its itself just let me more most mustn my myself no nor not now of off on once only or other ought our
    ours ourselves out over own same shan she should shouldn so some such than that the their theirs them
    themselves then there these they this those through to too under until up us very was wasn we were weren
    what when where which while who whom why will with won would wouldn you your yours yourself yourselves
    one two three new said says say also like many much may might must per via within without yet still
    get got make made us mr mrs ms re ve ll
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Parameters that change what is stored: a cache written with others is ignored.
_PARAMS = {
    "format": FORMAT,
    "terms_per_doc": TERMS_PER_DOC,
    "title_weight": TITLE_WEIGHT,
    "summary_weight": SUMMARY_WEIGHT,
    "max_body_chars": MAX_BODY_CHARS,
    "token": _TOKEN.pattern,
    "stem": 1,
}

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _stem(word: str) -> str:
    # Plural folding only: enough to join "tariff"/"tariffs" without a stemming library.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def term_counts(title: str, summary: str, body: str, fold: dict[str, str] | None = None) -> dict[str, int]:
    """Weighted term frequencies of one document: title x3, summary x2, body x1, stop words removed.

    ``fold`` memoises token -> term ("" for a stop word) across calls; pass one dict per batch.
    """
    memo: dict[str, str] = {} if fold is None else fold
    counts: Counter[str] = Counter(_TOKEN.findall(_MARKUP.sub(" ", body[:MAX_BODY_CHARS]).lower()))
    for text, weight in ((title, TITLE_WEIGHT), (summary, SUMMARY_WEIGHT)):
        for token in _TOKEN.findall(_MARKUP.sub(" ", text).lower()):
            counts[token] += weight
    folded: dict[str, int] = {}
    for token, count in counts.items():
        term = memo.get(token)
        if term is None:
            term = memo[token] = "" if token in STOPWORDS else _stem(token)
        if term:
            folded[term] = folded.get(term, 0) + count
    return folded


@dataclass
class TermIndex:
    """Top-term vectors of a sequence of documents, row ``i`` for document ``i``."""

    vocab: list[str]
    df: IntArray
    """Document frequency per term, over every document ever counted (see module docstring)."""
    docs_seen: int
    keys: list[str]
    fingerprints: list[str]
    indptr: IntArray
    terms: IntArray
    tfs: FloatArray
    by_term: IntArray | None = field(default=None, repr=False, compare=False)
    """Entry positions sorted by term (the postings lists), computed on demand and cached on disk."""
    _term_ids: dict[str, int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def empty(cls) -> TermIndex:
        return cls([], np.zeros(0, np.int64), 0, [], [], np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0))

    def __len__(self) -> int:
        return len(self.keys)

    def postings(self) -> IntArray:
        """Positions into ``terms`` grouped by term, documents ascending within a term."""
        if self.by_term is None:
            self.by_term = np.argsort(self.terms, kind="stable").astype(np.int64)
        return self.by_term

    def idf(self) -> FloatArray:
        idf: FloatArray = np.log((1.0 + self.docs_seen) / (1.0 + self.df)) + 1.0
        return idf

    def weights(self) -> FloatArray:
        """L2-normalised TF-IDF weight of every stored (document, term) entry, aligned with ``terms``."""
        raw = (1.0 + np.log(self.tfs)) * self.idf()[self.terms]
        lengths = np.diff(self.indptr)
        doc = np.repeat(np.arange(len(lengths)), lengths)
        norms = np.sqrt(np.bincount(doc, weights=raw * raw, minlength=len(lengths)))
        return raw / norms[doc] if len(raw) else raw

    def term_id(self, term: str) -> int | None:
        if self._term_ids is None:
            self._term_ids = {t: i for i, t in enumerate(self.vocab)}
        return self._term_ids.get(term)

    def query_vector(self, counts: dict[str, int]) -> tuple[IntArray, FloatArray]:
        """Vector of a document that is not (or not in this version) in the index; unknown terms are dropped."""
        found = ((self.term_id(t), c) for t, c in counts.items())
        pairs = [(tid, c) for tid, c in found if tid is not None]
        if not pairs:
            return np.zeros(0, np.int64), np.zeros(0)
        terms = np.array([p[0] for p in pairs], np.int64)
        raw = (1.0 + np.log(np.array([p[1] for p in pairs], np.float64))) * self.idf()[terms]
        keep = np.sort(np.argsort(-raw, kind="stable")[:TERMS_PER_DOC])
        terms, raw = terms[keep], raw[keep]
        return terms, raw / math.sqrt(float(raw @ raw))


def sync_index(
    old: TermIndex | None,
    entries: Sequence[tuple[str, str]],
    read: Callable[[int], tuple[str, str, str]],
) -> tuple[TermIndex, bool]:
    """Return an index whose row ``i`` is ``entries[i]`` (key, fingerprint), and whether it changed.

    Rows whose key and fingerprint match ``old`` are reused; ``read(i)`` gives
    (title, summary, body) for the others.
    """
    old = old or TermIndex.empty()
    keys = [key for key, _ in entries]
    if keys == old.keys and [fp for _, fp in entries] == old.fingerprints:
        return old, False  # the common warm case: nothing to read, nothing to move
    row_of = {key: j for j, key in enumerate(old.keys)}
    reuse_new: list[int] = []
    reuse_old: list[int] = []
    fresh: list[int] = []
    for i, (key, fp) in enumerate(entries):
        j = row_of.get(key)
        if j is not None and old.fingerprints[j] == fp:
            reuse_new.append(i)
            reuse_old.append(j)
        else:
            fresh.append(i)
    if old.docs_seen + len(fresh) > REBUILD_FACTOR * len(entries) + 100:
        if old.docs_seen:
            log.info("rebuilding the related-articles index from scratch")
        old, reuse_new, reuse_old, fresh = TermIndex.empty(), [], [], list(range(len(entries)))
    changed = bool(fresh) or len(reuse_old) != len(old.keys)

    vocab = list(old.vocab)
    term_id = {t: i for i, t in enumerate(vocab)}
    # Compact machine arrays: a cold build of a large archive holds tens of millions of entries.
    f_terms = array("i")
    f_tfs = array("i")
    f_lengths = array("q")
    fold: dict[str, str] = {}
    for i in fresh:
        counts = term_counts(*read(i), fold=fold)
        for term, count in counts.items():
            tid = term_id.get(term)
            if tid is None:
                tid = term_id[term] = len(vocab)
                vocab.append(term)
            f_terms.append(tid)
            f_tfs.append(count)
        f_lengths.append(len(counts))
    fresh_terms = np.frombuffer(f_terms, np.int32).astype(np.int64) if f_terms else np.zeros(0, np.int64)
    fresh_tfs = np.frombuffer(f_tfs, np.int32).astype(np.float64) if f_tfs else np.zeros(0)
    del f_terms, f_tfs
    fresh_lengths = np.frombuffer(f_lengths, np.int64) if f_lengths else np.zeros(0, np.int64)

    df = np.zeros(len(vocab), np.int64)
    df[: len(old.df)] = old.df
    df += np.bincount(fresh_terms, minlength=len(vocab))
    docs_seen = old.docs_seen + len(fresh)
    grown = TermIndex(vocab, df, docs_seen, [], [], np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0))
    fresh_terms, fresh_tfs, fresh_lengths = _prune(grown, fresh_terms, fresh_tfs, fresh_lengths)

    # Gather rows in entry order from the old arrays followed by the fresh ones.
    old_lengths = np.diff(old.indptr)
    starts = np.zeros(len(entries), np.int64)
    lengths = np.zeros(len(entries), np.int64)
    if reuse_new:
        starts[reuse_new] = old.indptr[:-1][reuse_old]
        lengths[reuse_new] = old_lengths[reuse_old]
    if fresh:
        fresh_ptr = np.concatenate(([0], np.cumsum(fresh_lengths)))
        starts[fresh] = fresh_ptr[:-1] + len(old.terms)
        lengths[fresh] = fresh_lengths
    indptr = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    gather = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
    all_terms = np.concatenate((old.terms, fresh_terms))
    all_tfs = np.concatenate((old.tfs, fresh_tfs))
    index = TermIndex(
        vocab=vocab,
        df=df,
        docs_seen=docs_seen,
        keys=[key for key, _ in entries],
        fingerprints=[fp for _, fp in entries],
        indptr=indptr,
        terms=all_terms[gather],
        tfs=all_tfs[gather],
    )
    return index, changed


def _prune(
    index: TermIndex, terms: IntArray, tfs: FloatArray, lengths: IntArray
) -> tuple[IntArray, FloatArray, IntArray]:
    """Keep each document's ``TERMS_PER_DOC`` best terms by TF-IDF.

    Ties keep the document's own term order (first occurrence), so the choice depends
    on the document, not on the order documents were indexed in.
    """
    if not len(terms):
        return terms, tfs, lengths
    idf = index.idf()
    ptr = np.concatenate(([0], np.cumsum(lengths)))
    kept: list[IntArray] = []
    # In slices of documents, to bound the temporary arrays of a cold build.
    for first in range(0, len(lengths), PRUNE_BATCH):
        last = min(first + PRUNE_BATCH, len(lengths))
        lo, hi = ptr[first], ptr[last]
        doc = np.repeat(np.arange(last - first, dtype=np.int64), lengths[first:last])
        score = (1.0 + np.log(tfs[lo:hi])) * idf[terms[lo:hi]]
        # One stable sort on (document, -score) packed in an int64 is far faster than lexsort.
        quantised = np.minimum(np.round(score * 2**24), 2**32 - 1).astype(np.int64)
        order = np.argsort((doc << 32) | (2**32 - 1 - quantised), kind="stable")
        position = np.arange(len(order)) - (ptr[first:last] - lo)[doc[order]]
        kept.append(np.sort(order[position < TERMS_PER_DOC]) + lo)
    keep = np.concatenate(kept)
    return terms[keep], tfs[keep], np.minimum(lengths, TERMS_PER_DOC)


def _join(items: Sequence[str]) -> npt.NDArray[np.uint8]:
    return np.frombuffer("\0".join(items).encode("utf-8"), np.uint8)


def _split(data: npt.NDArray[np.uint8], count: int) -> list[str]:
    if count == 0:
        return []
    items = bytes(data).decode("utf-8").split("\0")
    if len(items) != count:
        raise ValueError("string table length mismatch")
    return items


def save_index(path: Path, index: TermIndex) -> None:
    """Write ``index`` to ``path`` atomically."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        params=np.frombuffer(json.dumps(_PARAMS, sort_keys=True).encode(), np.uint8),
        counts=np.array([len(index.vocab), len(index.keys), index.docs_seen], np.int64),
        vocab=_join(index.vocab),
        df=index.df,
        keys=_join(index.keys),
        fingerprints=_join(index.fingerprints),
        indptr=index.indptr,
        terms=index.terms.astype(np.int32),
        tfs=index.tfs.astype(np.float32),
        by_term=index.postings().astype(np.int32),
    )
    atomic_write_bytes(path, buffer.getvalue(), only_if_changed=False)


def load_index(path: Path) -> TermIndex | None:
    """The index stored at ``path``, or None if there is none or it cannot be used (then it is rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if json.loads(bytes(data["params"]).decode()) != _PARAMS:
                log.info("%s: written with other settings; rebuilding", path)
                return None
            n_vocab, n_docs, docs_seen = (int(x) for x in data["counts"])
            index = TermIndex(
                vocab=_split(data["vocab"], n_vocab),
                df=data["df"].astype(np.int64),
                docs_seen=docs_seen,
                keys=_split(data["keys"], n_docs),
                fingerprints=_split(data["fingerprints"], n_docs),
                indptr=data["indptr"].astype(np.int64),
                terms=data["terms"].astype(np.int64),
                tfs=data["tfs"].astype(np.float64),
                by_term=data["by_term"].astype(np.int64),
            )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        log.warning("%s: unreadable related-articles index, rebuilding: %s", path, exc)
        return None
    entries = len(index.terms)
    if len(index.indptr) != n_docs + 1 or index.indptr[-1] != entries or len(index.df) != n_vocab:
        log.warning("%s: inconsistent related-articles index, rebuilding", path)
        return None
    if index.by_term is not None and len(index.by_term) != entries:
        index.by_term = None
    return index
