"""Ingest outside sources: fetch every due source concurrently, parse, store.

``ingest_due`` is the entry point (the ``ingest`` and ``run`` commands call it). Fetching
and parsing run in a bounded thread pool; every store write happens on the calling
thread, one transaction per source. One source failing, hanging or sending hostile
bytes costs that source only: it gets a one-line message and an exponential backoff.
"""

from __future__ import annotations

import difflib
import json
import logging
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from .config import Config, IngestConfig, SourceConfig
from .errors import IngestError
from .feedparse import ParsedFeed, parse_feed
from .fetch import Fetched, FetchError, fetch, make_client
from .itemstore import (
    SourceState,
    apply_retention,
    item_counts,
    record_failure,
    record_feed,
    record_not_modified,
    source_states,
    sync_sources,
)
from .sanitize import is_web_url
from .store import Store

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=5)

# What a worker may raise on hostile input. Anything else is a bug and should surface.
_SOURCE_FAILURES = (
    IngestError, httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, ValueError, TypeError,
    KeyError, IndexError, AttributeError, LookupError, UnicodeError, RecursionError, zlib.error,
)  # fmt: skip


@dataclass(frozen=True)
class SourceResult:
    """What happened to one source in this run."""

    name: str
    outcome: str
    """``fetched`` (200), ``not-modified`` (304) or ``failed``."""
    status: str
    """``200``, ``304`` or ``error``, as ``syndicate sources`` shows it."""
    message: str
    """One line for the person running syndicate."""
    new: int = 0
    changed: int = 0
    removed: int = 0
    held: int = 0
    warnings: tuple[str, ...] = ()
    moved_to: str | None = None
    """Set when a permanent redirect changed the URL fetched: update the config."""
    disabled: bool = False
    next_attempt: datetime | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


@dataclass(frozen=True)
class IngestReport:
    """Results for the sources fetched, in config order, and the names of those not due."""

    results: tuple[SourceResult, ...]
    not_due: tuple[str, ...]
    seconds: float

    @property
    def failed(self) -> tuple[SourceResult, ...]:
        return tuple(r for r in self.results if r.failed)

    @property
    def new(self) -> int:
        return sum(r.new for r in self.results)

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.results)


@dataclass(frozen=True)
class SourceStatus:
    """One row of ``syndicate sources``."""

    name: str
    url: str
    config_url: str
    state: str
    """``ok``, ``failing``, ``disabled``, ``moved`` or ``new`` (never fetched)."""
    last_fetch: datetime | None
    last_status: str | None
    last_error: str | None
    items: int
    failures: int
    next_attempt: datetime | None
    due: bool


@dataclass(frozen=True)
class _Job:
    source: SourceConfig
    url: str
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class _Outcome:
    job: _Job
    fetched: Fetched | None = None
    feed: ParsedFeed | None = None
    error: FetchError | IngestError | None = None
    seconds: float = 0.0


def ingest_due(
    config: Config,
    store: Store,
    *,
    now: datetime,
    only: str | None = None,
    progress: Callable[[SourceResult], None] | None = None,
    client: httpx.Client | None = None,
) -> IngestReport:
    """Fetch every due source (or just ``only``, due or not), store what they carry, apply retention.

    Never raises for a failing source: its result says what went wrong. Raises
    IngestError only for an unknown ``only`` name. ``progress`` is called on this thread
    as each source finishes. ``client`` lets callers share or configure the HTTP client.
    """
    started = time.monotonic()
    sources = list(config.sources)
    if only is not None:
        names = [s.name for s in sources]
        if only not in names:
            hint = difflib.get_close_matches(only, names, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise IngestError(f"no source named {only!r} in {config.path}{suggestion}")
    sync_sources(store, sources)
    states = source_states(store)
    jobs: list[_Job] = []
    not_due: list[str] = []
    for source in sources:
        state = states[source.name]
        if only is not None and source.name != only:
            continue
        if only is None and not _is_due(state, now):
            not_due.append(source.name)
            continue
        fresh_filters = _filters_changed(store, source)
        jobs.append(
            _Job(
                source=source,
                url=state.url,
                etag=None if fresh_filters else state.etag,
                last_modified=None if fresh_filters else state.last_modified,
            )
        )
    results: dict[str, SourceResult] = {}
    if jobs:
        own_client = client is None
        http = client or make_client(config.ingest)
        try:
            with ThreadPoolExecutor(max_workers=max(1, min(config.ingest.workers, len(jobs)))) as pool:
                # No list of futures kept: each finished outcome is freed as soon as it is stored.
                for future in as_completed(
                    [pool.submit(_run_job, j, config.ingest, config.root, http, now) for j in jobs]
                ):
                    outcome = future.result()
                    result = _record(store, outcome, states[outcome.job.source.name], config.ingest, now)
                    results[result.name] = result
                    _log_result(result)
                    if progress is not None:
                        progress(result)
        finally:
            if own_client:
                http.close()
    apply_retention(store, sources, now=now)
    ordered = tuple(results[s.name] for s in sources if s.name in results)
    return IngestReport(results=ordered, not_due=tuple(not_due), seconds=time.monotonic() - started)


def source_statuses(config: Config, store: Store, *, now: datetime) -> list[SourceStatus]:
    """The state of every configured source, in config order, for ``syndicate sources``."""
    sync_sources(store, config.sources)
    states = source_states(store)
    counts = item_counts(store)
    rows = []
    for source in config.sources:
        state = states[source.name]
        if state.disabled:
            label = "disabled"
        elif state.last_fetch is None:
            label = "new"
        elif state.failures:
            label = "failing"
        elif state.moved:
            label = "moved"
        else:
            label = "ok"
        rows.append(
            SourceStatus(
                name=source.name,
                url=state.url,
                config_url=state.config_url,
                state=label,
                last_fetch=state.last_fetch,
                last_status=state.last_status,
                last_error=state.last_error,
                items=counts.get(source.name, 0),
                failures=state.failures,
                next_attempt=state.next_attempt,
                due=_is_due(state, now),
            )
        )
    return rows


def backoff_delay(failures: int, settings: IngestConfig, retry_after: float | None = None) -> timedelta:
    """Wait before the next attempt after ``failures`` consecutive failures: doubling, capped."""
    cap = timedelta(minutes=settings.max_backoff_minutes)
    delay: timedelta = BACKOFF_BASE * (2 ** min(max(failures - 1, 0), 30))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return min(delay, cap)


def _is_due(state: SourceState, now: datetime) -> bool:
    return not state.disabled and (state.next_attempt is None or state.next_attempt <= now)


def _filter_signature(source: SourceConfig) -> str:
    return json.dumps([list(source.include), list(source.exclude)])


def _filters_changed(store: Store, source: SourceConfig) -> bool:
    """True when include/exclude changed since the last full fetch: then fetch in full, not conditionally,
    so entries a loosened filter now lets through are not hidden behind a 304."""
    return store.get_meta(f"ingest.filters:{source.name}") != _filter_signature(source)


def _run_job(job: _Job, settings: IngestConfig, root: Path, client: httpx.Client, now: datetime) -> _Outcome:
    """Fetch and parse one source. Runs on a worker thread; touches no shared state but the client."""
    started = time.monotonic()
    try:
        fetched = fetch(
            job.url, client=client, settings=settings, etag=job.etag, last_modified=job.last_modified, root=root
        )
        feed = None
        if fetched.status != 304:
            feed = parse_feed(fetched.body, headers=fetched.headers, url=fetched.url, now=now)
        # The raw bytes are not needed past parsing; do not hold them while waiting to be stored.
        return _Outcome(job, fetched=replace(fetched, body=b""), feed=feed, seconds=time.monotonic() - started)
    except FetchError as exc:
        return _Outcome(job, error=exc, seconds=time.monotonic() - started)
    except _SOURCE_FAILURES as exc:
        log.debug("source %s failed", job.source.name, exc_info=True)
        error = exc if isinstance(exc, IngestError) else IngestError(f"{type(exc).__name__}: {exc}")
        return _Outcome(job, error=error, seconds=time.monotonic() - started)


def _record(store: Store, outcome: _Outcome, state: SourceState, settings: IngestConfig, now: datetime) -> SourceResult:
    source = outcome.job.source
    if outcome.error is not None:
        error = outcome.error
        retry_after = error.retry_after if isinstance(error, FetchError) else None
        gone = isinstance(error, FetchError) and error.gone
        status = str(error.status) if isinstance(error, FetchError) and error.status else "error"
        message = " ".join(str(error).split())[:300] or type(error).__name__
        next_attempt = now + backoff_delay(state.failures + 1, settings, retry_after)
        failures = record_failure(
            store, source.name, now=now, status=status, error=message, next_attempt=next_attempt, disable=gone
        )
        suffix = "" if gone else f"; attempt {failures} failed, next try {next_attempt:%Y-%m-%d %H:%M} UTC"
        return SourceResult(
            name=source.name,
            outcome="failed",
            status=status,
            message=message + suffix,
            held=item_counts(store).get(source.name, 0),
            disabled=gone,
            next_attempt=None if gone else next_attempt,
            seconds=outcome.seconds,
        )
    fetched = outcome.fetched
    assert fetched is not None
    next_attempt = now + timedelta(minutes=source.interval_minutes)
    moved_to = fetched.moved_to if fetched.moved_to and fetched.moved_to != state.url else None
    url = fetched.moved_to or state.url
    moved_note = f"; moved permanently to {moved_to}, update the config" if moved_to else ""
    if outcome.feed is None:
        record_not_modified(
            store, source.name, now=now, url=url, etag=fetched.etag, last_modified=fetched.last_modified,
            next_attempt=next_attempt,
        )  # fmt: skip
        held = item_counts(store).get(source.name, 0)
        return SourceResult(
            name=source.name,
            outcome="not-modified",
            status="304",
            message=f"not modified ({held} items held){moved_note}",
            held=held,
            moved_to=moved_to,
            next_attempt=next_attempt,
            seconds=outcome.seconds,
        )
    feed = outcome.feed
    warnings = list(feed.warnings)
    # A local file's entries without links fall back to a file: URL; never publish those.
    usable = tuple(e for e in feed.entries if is_web_url(e.link))
    if len(usable) < len(feed.entries):
        warnings.append(f"skipped {len(feed.entries) - len(usable)} entries without an http(s) link")
        feed = ParsedFeed(feed.format, feed.title, feed.site_url, feed.feed_id, usable, feed.warnings)
    note = "; ".join(warnings)[:500] or None
    counts = record_feed(
        store, source, feed, now=now, url=url, etag=fetched.etag, last_modified=fetched.last_modified,
        next_attempt=next_attempt, note=note,
    )  # fmt: skip
    store.set_meta(f"ingest.filters:{source.name}", _filter_signature(source))
    message = f"{counts.new} new, {counts.changed} updated, {counts.held} held"
    if counts.removed:
        message += f", {counts.removed} expired"
    if warnings:
        message += "; warning: " + "; ".join(warnings)
    return SourceResult(
        name=source.name,
        outcome="fetched",
        status=str(fetched.status),
        message=message + moved_note,
        new=counts.new,
        changed=counts.changed,
        removed=counts.removed,
        held=counts.held,
        warnings=tuple(warnings),
        moved_to=moved_to,
        next_attempt=next_attempt,
        seconds=outcome.seconds,
    )


def _log_result(result: SourceResult) -> None:
    # Callers show results themselves (see ``progress``); the log is for -v and for cron mail.
    log.info("source %s: %s %s (%.2fs)", result.name, result.status, result.message, result.seconds)


__all__ = ["IngestReport", "SourceResult", "SourceStatus", "backoff_delay", "ingest_due", "source_statuses"]
