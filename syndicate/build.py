"""``syndicate build``: records in, feed folder out, writing only files whose bytes changed.

The steps: read records (parsed-record cache, both cores), refuse if any is invalid
(unless told to skip them), pick the published ones, pin new ids, choose the items that
appear in some feed, render only their bodies (rendered-HTML cache), render the feeds,
and write each file atomically if its bytes changed.

An unchanged rebuild is cut short: the last build's fingerprint (record files, config,
templates, code, outside items, pins, output files) is compared first, and nothing is
parsed or rendered when it matches and no scheduled record has come due since.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from operator import itemgetter
from pathlib import Path

from . import __version__, archives, categories, feeds, itemstore
from .cache import files_digest, paused_gc, read_cache, tree_identity, write_cache
from .config import Config
from .fsutil import atomic_write_bytes, would_change
from .model import Article, Body
from .publish import next_publication, pin_records, problem_warnings, published_recs
from .records import (
    R_CATS,
    R_FEED_ID,
    R_KEY,
    R_PUB,
    R_URL,
    load_record_index,
    rec_to_article,
    render_body,
    render_content,
    scan_record_files,
    to_micros,
)
from .store import Store
from .urlnorm import normalise_url

CATEGORY_SLUGS_META = "category_slugs"
PACKAGE_DIR = Path(__file__).resolve().parent
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BuildResult:
    """What a build did (or, with ``check``, would do)."""

    records_read: int
    written: tuple[Path, ...]
    unchanged: tuple[Path, ...]
    would_change: tuple[Path, ...]
    changed_feed_urls: tuple[str, ...]
    """Public URLs of feeds whose bytes changed (for WebSub pings)."""
    warnings: tuple[str, ...]
    elapsed: float


def build_site(
    config: Config,
    store: Store,
    *,
    now: datetime,
    out: Path | None = None,
    full: bool = False,
    check: bool = False,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> BuildResult:
    """Build every feed into ``out`` (default: ``feeds.output``).

    ``full`` ignores every cache; ``check`` writes nothing (not even state) and reports
    what would change. Raises RecordError before writing anything if a record is invalid,
    unless ``skip_invalid``.
    """
    with paused_gc():
        return _build_site(
            config, store, now=now, out=out, full=full, check=check, skip_invalid=skip_invalid, progress=progress
        )


def _build_site(
    config: Config,
    store: Store,
    *,
    now: datetime,
    out: Path | None,
    full: bool,
    check: bool,
    skip_invalid: bool,
    progress: Progress | None,
) -> BuildResult:
    started = time.perf_counter()
    out_dir = Path(out) if out is not None else config.feeds.output
    files, scan_warnings = scan_record_files(config)
    state_path = config.state_dir / "build.cache"
    base = _base_fingerprint(config, store, out_dir, skip_invalid, files_digest(files))

    if not full:
        shortcut = _unchanged_shortcut(state_path, base, store, out_dir, now)
        if shortcut is not None:
            records_read, outputs, warnings = shortcut
            return BuildResult(records_read, (), outputs, (), (), warnings, time.perf_counter() - started)

    index = load_record_index(config, cache=not full, scanned=(files, scan_warnings))
    warnings = [*index.warnings, *problem_warnings(index, skip_invalid=skip_invalid)]
    recs = published_recs(index.recs, now)
    overrides, notices = pin_records(store, recs, now=now, dry_run=check)
    warnings.extend(notices)

    names = {name for rec in recs for name in rec[R_CATS]}
    pinned_slugs = _pinned_slugs(store)
    cats = categories.build_categories(config, names, pinned_slugs)
    slugs = {c.name: c.slug for c in cats}
    if not check and slugs != pinned_slugs:
        store.set_meta(CATEGORY_SLUGS_META, json.dumps(slugs, sort_keys=True, ensure_ascii=False))

    candidates = _feed_candidates(config, recs, overrides)
    outside = _outside_articles(config, store, recs)
    plan = feeds.plan_feeds(config, [*candidates, *outside], cats)
    if config.feeds.archives:
        # RFC 5005 archives show every item, not only the newest N: they need the whole history.
        history = [*_all_articles(recs, overrides), *outside]
        first_seen = {key: pin.first_seen for key, pin in store.pins().items()}
        plan = archives.add_archives(config, plan, history, cats, first_seen=first_seen)
    if config.feeds.content == "full":
        plan = _with_content(config, plan, full=full, jobs=None)
    feeds_cache = _FeedsCache(config, out_dir, full=full)
    outputs, reused = feeds_cache.render(plan)

    written: list[Path] = []
    unchanged: list[Path] = []
    changed: list[Path] = []
    changed_urls: list[str] = []
    feed_files = {
        feeds.feed_path(spec, feeds.EXTENSIONS[fmt]): feeds.feed_url(config, spec, fmt)
        for spec, _ in plan
        for fmt in config.feeds.formats
    }
    unchanged.extend(out_dir / rel for rel in reused)
    total = len(outputs)
    for done, (rel, data) in enumerate(sorted(outputs.items()), start=1):
        path = out_dir / rel
        if check:
            (changed if would_change(path, data) else unchanged).append(path)
        elif atomic_write_bytes(path, data):
            written.append(path)
        else:
            unchanged.append(path)
        if (path in written or path in changed) and rel in feed_files:
            changed_urls.append(feed_files[rel])
        if progress is not None:
            progress(done, total)

    if not check:
        feeds_cache.save()
        upcoming = next_publication(index.recs, now)
        every_output = dict.fromkeys([*outputs, *reused], b"")
        _save_state(
            state_path,
            config,
            store,
            out_dir,
            skip_invalid,
            base,
            every_output,
            upcoming,
            index.records_read,
            [*warnings],
        )
    return BuildResult(
        records_read=index.records_read,
        written=tuple(written),
        unchanged=tuple(unchanged),
        would_change=tuple(changed),
        changed_feed_urls=tuple(changed_urls),
        warnings=tuple(warnings),
        elapsed=time.perf_counter() - started,
    )


# -- choosing and rendering items ----------------------------------------------------------


def _feed_candidates(config: Config, recs: Sequence[tuple], overrides: dict[str, str]) -> list[Article]:
    """Articles for exactly the records some feed will show: the newest N overall and per category.

    Only these become Articles and get their bodies rendered; the order matches
    ``model.sort_key`` (newest first, then pinned feed id), so the choice equals plan_feeds'.
    """
    limit = config.feeds.items
    # Two stable sorts with C-level keys (feed id, then newest first) give the order of one sort
    # on (-published, feed id), at a fraction of the cost for 100,000 records.
    if overrides:
        ordered = sorted(recs, key=lambda rec: overrides.get(rec[R_KEY], rec[R_FEED_ID]))
    else:
        ordered = sorted(recs, key=itemgetter(R_FEED_ID))
    ordered.sort(key=itemgetter(R_PUB), reverse=True)

    chosen: list[tuple] = []
    counts: dict[str, int] = {}
    open_names = {name for rec in recs for name in rec[R_CATS]}
    for overall, rec in enumerate(ordered):
        if overall >= limit and not open_names:
            break  # every feed is full: no later record can appear in one
        wanted = overall < limit
        for name in rec[R_CATS]:
            seen = counts.get(name, 0)
            if seen < limit:
                wanted = True
                if seen + 1 == limit:
                    open_names.discard(name)
            counts[name] = seen + 1
        if wanted:
            chosen.append(rec)
    articles = []
    for rec in chosen:
        article = rec_to_article(rec)
        pinned = overrides.get(rec[R_KEY])
        articles.append(replace(article, feed_id=pinned) if pinned is not None else article)
    return articles


def _all_articles(recs: Sequence[tuple], overrides: dict[str, str]) -> list[Article]:
    """Every published record as an Article with its pinned feed id (for archives)."""
    articles = []
    for rec in recs:
        article = rec_to_article(rec)
        pinned = overrides.get(rec[R_KEY])
        articles.append(replace(article, feed_id=pinned) if pinned is not None else article)
    return articles


def _outside_articles(config: Config, store: Store, recs: Sequence[tuple]) -> list[Article]:
    if not any("feeds" in source.mix for source in config.sources):
        return []
    own = {normalise_url(rec[R_URL]) for rec in recs}
    return itemstore.external_articles(config, store, mix="feeds", exclude_urls=own)


def _with_content(config: Config, plan: feeds.FeedPlan, *, full: bool, jobs: int | None) -> feeds.FeedPlan:
    """Fill ``content_html`` of every site article in the plan, from the rendered-HTML cache where possible."""
    site = {a.key: a for _, items in plan for a in items if a.source is None}
    cache_path = config.state_dir / "content.cache"
    fingerprint = f"content-1:{__version__}:{_code_identity()}"
    cached: dict[str, str] = {} if full else (read_cache(cache_path, fingerprint) or {})
    idents = _body_identities(config, site.values())
    html: dict[str, str] = {}
    todo: list[Article] = []
    for key, article in site.items():
        hit = cached.get(idents[key])
        if hit is not None:
            html[key] = hit
        else:
            todo.append(article)
    html.update(_render_many(config, todo, jobs))
    entries = {idents[k]: v for k, v in sorted(html.items())}
    if entries != cached:  # an unchanged cache is not written again (it is large, and written with fsync)
        write_cache(cache_path, fingerprint, entries)
    filled = {key: replace(article, content_html=html[key]) for key, article in site.items()}
    return [(spec, tuple(filled.get(a.key, a) if a.source is None else a for a in items)) for spec, items in plan]


def _body_identities(config: Config, articles: object) -> dict[str, str]:
    """A cache key per article: what its rendered HTML depends on (body bytes' identity and URL)."""
    keys: dict[str, str] = {}
    for article in articles:  # type: ignore[attr-defined]
        body = article.body
        if body is not None and body.path is not None:
            try:
                st = os.stat(body.path)
                source = f"{body.path}:{body.offset}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
            except OSError:
                source = f"missing:{body.path}"
        elif body is not None:
            source = hashlib.blake2b(f"{body.format}:{body.text}".encode(), digest_size=16).hexdigest()
        else:
            source = "none"
        keys[article.key] = f"{article.key}\n{article.url}\n{source}"
    return keys


def _render_many(config: Config, articles: list[Article], jobs: int | None) -> dict[str, str]:
    workers = jobs or os.cpu_count() or 1
    if workers <= 1 or len(articles) < 4000:  # cmark is fast; a pool only pays off for many
        return {a.key: render_content(a, config) for a in articles}
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    chunk = max(8, len(articles) // (workers * 4) + 1)
    bodies = [a.body if a.body is not None else Body("html", text=a.content_html or "") for a in articles]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
        rendered = pool.map(render_body, bodies, [a.url for a in articles], chunksize=chunk)
        return {a.key: html for a, html in zip(articles, rendered, strict=True)}


def _pinned_slugs(store: Store) -> dict[str, str]:
    raw = store.get_meta(CATEGORY_SLUGS_META)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class _FeedsCache:
    """Renders only the feeds whose inputs changed since the file on disk was written.

    Each feed's inputs (its spec and its items, rendered content included) are hashed; when
    the hash and the file's size and mtime match the last build, the file is known to hold
    exactly what rendering would produce, so it is not rendered again. Config, templates and
    syndicate's code are part of the cache's fingerprint.
    """

    def __init__(self, config: Config, out_dir: Path, *, full: bool) -> None:
        self.config = config
        self.out_dir = out_dir
        self.path = config.state_dir / "feeds.cache"
        self.fingerprint = hashlib.blake2b(
            "\n".join(
                [__version__, _code_identity(), repr(config), repr(tree_identity(config.template_dirs)), str(out_dir)]
            ).encode(),
            digest_size=20,
        ).hexdigest()
        saved = None if full else read_cache(self.path, self.fingerprint)
        self.saved: dict[str, tuple[str, int, int]] = saved if isinstance(saved, dict) else {}
        self.hashes: dict[str, str] = {}

    def render(self, plan: feeds.FeedPlan) -> tuple[dict[str, bytes], list[str]]:
        renderers = {"rss": feeds.render_rss, "atom": feeds.render_atom, "json": feeds.render_json}
        outputs: dict[str, bytes] = {}
        reused: list[str] = []
        for spec, items in plan:
            digest = hashlib.blake2b(repr((spec, items)).encode(), digest_size=20).hexdigest()
            for fmt in self.config.feeds.formats:
                rel = feeds.feed_path(spec, feeds.EXTENSIONS[fmt])
                self.hashes[rel] = digest
                if self._still_on_disk(rel, digest):
                    reused.append(rel)
                else:
                    outputs[rel] = renderers[fmt](self.config, spec, items)
        # The index files are small and depend on every feed: always rendered.
        outputs["index.opml"] = feeds.render_opml(self.config, plan)
        outputs["index.html"] = feeds.render_index_html(self.config, plan)
        if self.config.feeds.stylesheet:
            outputs[feeds.STYLESHEET_NAME] = feeds.render_stylesheet(self.config)
        return outputs, reused

    def _still_on_disk(self, rel: str, digest: str) -> bool:
        saved = self.saved.get(rel)
        if saved is None or saved[0] != digest:
            return False
        try:
            st = (self.out_dir / rel).stat()
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) == (saved[1], saved[2])

    def save(self) -> None:
        entries: dict[str, tuple[str, int, int]] = {}
        for rel, digest in self.hashes.items():
            try:
                st = (self.out_dir / rel).stat()
            except OSError:
                continue
            entries[rel] = (digest, st.st_size, st.st_mtime_ns)
        write_cache(self.path, self.fingerprint, entries)


# -- the unchanged-rebuild shortcut --------------------------------------------------------


def _code_identity() -> str:
    # A new syndicate release (or a local edit of it) must never reuse outputs of the old one.
    entries = [e for e in tree_identity([PACKAGE_DIR]) if "__pycache__" not in e[0]]
    return hashlib.blake2b(repr(entries).encode(), digest_size=16).hexdigest()


def _base_fingerprint(config: Config, store: Store, out_dir: Path, skip_invalid: bool, records: str) -> str:
    parts = [
        __version__,
        _code_identity(),
        repr(config),
        repr(tree_identity(config.template_dirs)),
        str(out_dir.resolve()),
        str(skip_invalid),
        records,
        _outside_identity(config, store),
    ]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=20).hexdigest()


def _outside_identity(config: Config, store: Store) -> str:
    if not config.sources:
        return ""
    digest = hashlib.blake2b(digest_size=16)
    for row in store.db.execute("SELECT source, guid, content_hash, updated, title, link FROM items ORDER BY 1, 2"):
        digest.update(repr(tuple(row)).encode())
    for row in store.db.execute("SELECT name, url, feed_title, feed_id, site_url FROM sources ORDER BY 1"):
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def _state_identity(store: Store) -> str:
    pins = store.db.execute("SELECT count(*), max(rowid) FROM published").fetchone()
    return f"{tuple(pins)}|{store.get_meta(CATEGORY_SLUGS_META)}"


def _output_identity(out_dir: Path, rels: Sequence[str]) -> list[tuple[str, int, int]] | None:
    found = []
    for rel in rels:
        try:
            st = (out_dir / rel).stat()
        except OSError:
            return None
        found.append((rel, st.st_size, st.st_mtime_ns))
    return found


def _save_state(
    path: Path,
    config: Config,
    store: Store,
    out_dir: Path,
    skip_invalid: bool,
    base: str,
    outputs: dict[str, bytes],
    upcoming: datetime | None,
    records_read: int,
    warnings: list[str],
) -> None:
    del config, skip_invalid
    rels = sorted(outputs)
    identity = _output_identity(out_dir, rels)
    if identity is None:
        return
    payload = {
        "state": _state_identity(store),
        "outputs": identity,
        "until": to_micros(upcoming) if upcoming is not None else -1,
        "records_read": records_read,
        "warnings": warnings,
    }
    write_cache(path, base, payload)


def _unchanged_shortcut(
    path: Path, base: str, store: Store, out_dir: Path, now: datetime
) -> tuple[int, tuple[Path, ...], tuple[str, ...]] | None:
    saved = read_cache(path, base)
    if not isinstance(saved, dict) or saved.get("state") != _state_identity(store):
        return None
    until = saved["until"]
    if until != -1 and to_micros(now) >= until:
        return None  # a scheduled record has come due
    rels = [rel for rel, _, _ in saved["outputs"]]
    current = _output_identity(out_dir, rels)
    if current is None or [tuple(x) for x in saved["outputs"]] != current:
        return None
    return saved["records_read"], tuple(out_dir / rel for rel in rels), tuple(saved["warnings"])
