"""``syndicate run``: everything cron should do, in order, once.

1. ingest the outside sources that are due;
2. build the feeds (scheduled records whose time has come appear now);
3. ping the WebSub hub about the feeds that changed (and any pings that failed last time);
4. send the digest if a scheduled slot is due.

A stage whose part is not configured is skipped. A failing stage does not stop the
others (a dead source must not hold back the feeds, a failed build must not hold back a
due digest of what was already published), but it makes the run's exit code 1. The
caller holds the run lock (``lock.RunLock``) and opens the store.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from . import websub
from .build import build_site
from .config import Config
from .errors import ConfigError, DigestError, RecordError, SyndicateError
from .ingest import ingest_due
from .schedule import Schedule, parse_schedule
from .store import Store, from_iso, to_iso

log = logging.getLogger(__name__)

LAST_SLOT_META = "run.digest_slot"
"""Slot time (UTC) of the last scheduled digest the run completed, sent or found empty."""
PENDING_PINGS_META = "run.websub_pending"
"""Feed URLs whose hub ping failed; retried on the next run."""

OK, SKIPPED, NOTHING, FAILED = "ok", "skipped", "nothing", "failed"


@dataclass(frozen=True)
class StageOutcome:
    """One stage's result: ``status`` is ok, nothing (ran, nothing to do), skipped or failed."""

    stage: str
    status: str
    message: str
    details: tuple[str, ...] = ()
    """Further lines: per-source results, warnings, per-recipient failures."""

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def line(self) -> str:
        return f"{self.stage}: {self.message}"


@dataclass(frozen=True)
class RunReport:
    now: datetime
    stages: tuple[StageOutcome, ...] = field(default=())

    @property
    def failed(self) -> tuple[StageOutcome, ...]:
        return tuple(s for s in self.stages if s.failed)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def stage(self, name: str) -> StageOutcome | None:
        return next((s for s in self.stages if s.stage == name), None)


DigestSender = Callable[[Config, Store, datetime, datetime], StageOutcome]
"""``(config, store, now, slot) -> outcome``: builds and sends the digest for a due slot.

Must raise SyndicateError when the send could not complete (the slot then stays due and
the next run resumes it); return a FAILED outcome for failures that a rerun would not fix
(some addresses rejected), which completes the slot.
"""


def digest_schedule(config: Config) -> Schedule:
    """The configured digest schedule; raises ConfigError (exit 2) for an unreadable entry."""
    try:
        return parse_schedule(config.digest.schedule, config.tz)
    except ConfigError as exc:
        raise ConfigError(f"{config.path}: {exc}") from exc


def run_site(
    config: Config,
    store: Store,
    *,
    now: datetime,
    skip_invalid: bool = False,
    send_digest: DigestSender | None = None,
    on_stage: Callable[[StageOutcome], None] | None = None,
) -> RunReport:
    """Run every configured stage at ``now``; never raises for a stage failure (see the report).

    ``send_digest`` does the digest stage (default: ``digest_stage``). ``on_stage`` is called
    as each stage finishes, so a caller can show progress.
    """
    schedule = digest_schedule(config)
    stages: list[StageOutcome] = []

    def done(outcome: StageOutcome) -> None:
        log.debug("%s", outcome.line())
        stages.append(outcome)
        if on_stage is not None:
            on_stage(outcome)

    done(_ingest_stage(config, store, now))
    build_outcome, changed = _build_stage(config, store, now, skip_invalid)
    done(build_outcome)
    done(_websub_stage(config, store, changed))
    done(_digest_stage(config, store, now, schedule, send_digest or digest_stage))
    return RunReport(now=now, stages=tuple(stages))


def _ingest_stage(config: Config, store: Store, now: datetime) -> StageOutcome:
    if not config.sources:
        return StageOutcome("ingest", SKIPPED, "no sources configured")
    try:
        report = ingest_due(config, store, now=now)
    except SyndicateError as exc:
        return StageOutcome("ingest", FAILED, str(exc))
    details = tuple(f"{r.name}: {r.message}" for r in report.results)
    if not report.results:
        return StageOutcome("ingest", NOTHING, f"no source due ({len(report.not_due)} waiting)")
    items = f"{report.new} new and {report.changed} changed item(s)"
    if report.failed:
        names = ", ".join(r.name for r in report.failed)
        message = f"{len(report.failed)} of {len(report.results)} source(s) failed ({names}); {items}"
        return StageOutcome("ingest", FAILED, message, details)
    summary = f"{len(report.results)} source(s) fetched, {items} in {report.seconds:.1f} s"
    return StageOutcome("ingest", OK, summary, details)


def _build_stage(
    config: Config, store: Store, now: datetime, skip_invalid: bool
) -> tuple[StageOutcome, tuple[str, ...]]:
    try:
        result = build_site(config, store, now=now, skip_invalid=skip_invalid)
    except RecordError as exc:
        count = len(exc.problems)
        message = (
            f"{count} invalid record(s); nothing written, the feeds on disk are unchanged"
            " (fix them, or run with --skip-invalid)"
        )
        return StageOutcome("build", FAILED, message, tuple(exc.problems)), ()
    except SyndicateError as exc:
        return StageOutcome("build", FAILED, str(exc)), ()
    summary = (
        f"{result.records_read} records read, {len(result.written)} file(s) written,"
        f" {len(result.unchanged)} unchanged in {result.elapsed:.2f} s"
    )
    status = OK if result.written else NOTHING
    changed = tuple(websub.subscription_topics(config.feeds_url, result.changed_feed_urls))
    return StageOutcome("build", status, summary, tuple(f"warning: {w}" for w in result.warnings)), changed


def _websub_stage(config: Config, store: Store, changed: tuple[str, ...]) -> StageOutcome:
    if not config.feeds.hub:
        return StageOutcome("websub", SKIPPED, "no hub configured")
    pending = _pending_pings(store)
    topics = sorted({*changed, *pending})
    if not topics:
        return StageOutcome("websub", NOTHING, "no feed changed")
    result = websub.ping_hub(config.feeds.hub, topics, timeout=config.feeds.hub_timeout)
    failed = [topic for topic, _ in result.failed]
    store.set_meta(PENDING_PINGS_META, json.dumps(failed))
    if not result.ok:
        details = tuple(f"{topic}: {error}" for topic, error in result.failed)
        return StageOutcome("websub", FAILED, result.summary() + "; will retry on the next run", details)
    return StageOutcome("websub", OK, result.summary())


def _pending_pings(store: Store) -> list[str]:
    raw = store.get_meta(PENDING_PINGS_META)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _digest_stage(config: Config, store: Store, now: datetime, schedule: Schedule, send: DigestSender) -> StageOutcome:
    if not schedule:
        return StageOutcome("digest", SKIPPED, "no digest schedule configured")
    last = last_digest_slot(store)
    slot = schedule.due(now, last)
    if slot is None:
        upcoming = schedule.next(now)
        when = f"; next at {upcoming.astimezone(config.tz):%Y-%m-%d %H:%M %Z}" if upcoming else ""
        return StageOutcome("digest", NOTHING, f"not due{when}")
    try:
        outcome = send(config, store, now, slot)
    except SyndicateError as exc:
        # The slot stays due: the next run resumes this digest (the send ledger knows who has it).
        return StageOutcome("digest", FAILED, f"{exc} (will resume on the next run)")
    store.set_meta(LAST_SLOT_META, to_iso(slot))
    return outcome


def last_digest_slot(store: Store) -> datetime | None:
    """The slot time of the last scheduled digest completed, or None."""
    raw = store.get_meta(LAST_SLOT_META)
    return from_iso(raw) if raw else None


def digest_stage(config: Config, store: Store, now: datetime, slot: datetime) -> StageOutcome:
    """Build and send the digest for ``slot`` to every subscriber (the default DigestSender).

    Expects ``syndicate.digest.send_scheduled_digest(config, store, now=, slot=) -> StageOutcome``:
    it resumes an unfinished digest from the send ledger instead of starting a new one.
    """
    try:
        from .digest import send_scheduled_digest
    except ImportError as exc:
        raise DigestError("digest sending is not available in this installation (syndicate.digest)") from exc
    outcome: StageOutcome = send_scheduled_digest(config, store, now=now, slot=slot)
    return outcome
