"""The digest send ledger: every digest and, per recipient, what became of it.

Exactly-once delivery rests on the order of writes. Each recipient's row is written in
its own transaction: ``pending`` right before the DATA command, then ``sent``,
``failed`` or ``unknown`` once the server has answered (or not). A process killed in
between leaves ``pending``; on resume that recipient is treated as ``unknown`` — the
server may already have the message, and a missing copy is better than a second one.
``--retry-unknown`` can still send those on purpose.

Addresses are keyed in lower case, the way the subscriber list compares them.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from .config import SmtpConfig
from .errors import DigestError
from .mailer import ACCEPTED, PERMANENT, TRANSIENT, UNKNOWN, envelope_sender, open_transport
from .store import Store, from_iso, to_iso
from .subscribers import Subscriber

__all__ = [
    "FAILED",
    "FINISHED",
    "PENDING",
    "SENDING",
    "SENT",
    "UNKNOWN_STATUS",
    "Delivery",
    "DigestRecord",
    "Ledger",
    "SendReport",
    "deliver",
]

# Digest statuses.
SENDING = "sending"
FINISHED = "sent"

# Delivery statuses.
PENDING = "pending"
SENT = "sent"
FAILED = "failed"
UNKNOWN_STATUS = "unknown"

PENDING_IS_UNKNOWN = (
    "interrupted after the message was handed to the server and before its reply was recorded; "
    "it may have been delivered"
)


@dataclass(frozen=True)
class DigestRecord:
    id: int
    window_start: datetime
    cutoff: datetime
    created: datetime
    content_hash: str
    subject: str
    item_keys: tuple[str, ...]
    payload: str
    status: str
    schedule_slot: datetime | None


@dataclass(frozen=True)
class Delivery:
    email: str
    status: str
    attempts: int
    error: str | None
    updated: datetime


def _key(email: str) -> str:
    return email.strip().lower()


class Ledger:
    """The ``digests`` and ``deliveries`` tables of an open :class:`Store`.

    ``now`` supplies the ``updated`` time of delivery rows (UTC wall clock by default).
    """

    def __init__(self, store: Store, *, now: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.db = store.db
        self._now = now or (lambda: datetime.now(UTC))
        # The pending mark must survive a power cut, not only a killed process: with WAL's
        # default NORMAL a commit can be lost, and the recipient would be mailed again.
        self.db.execute("PRAGMA synchronous=FULL")

    # -- digests ------------------------------------------------------------------

    @staticmethod
    def _record(row: Any) -> DigestRecord:
        return DigestRecord(
            id=int(row["id"]),
            window_start=from_iso(row["window_start"]),
            cutoff=from_iso(row["cutoff"]),
            created=from_iso(row["created"]),
            content_hash=row["content_hash"],
            subject=row["subject"],
            item_keys=tuple(json.loads(row["item_keys"])),
            payload=row["payload"],
            status=row["status"],
            schedule_slot=from_iso(row["schedule_slot"]) if row["schedule_slot"] else None,
        )

    def _one(self, where: str, params: tuple[object, ...] = ()) -> DigestRecord | None:
        row = self.db.execute(f"SELECT * FROM digests {where} ORDER BY id DESC LIMIT 1", params).fetchone()
        return None if row is None else self._record(row)

    def digest(self, digest_id: int) -> DigestRecord | None:
        return self._one("WHERE id = ?", (digest_id,))

    def open_digest(self) -> DigestRecord | None:
        """The unfinished digest (status 'sending') a new send must resume, if any."""
        return self._one("WHERE status = ?", (SENDING,))

    def latest_digest(self) -> DigestRecord | None:
        """The most recently created digest, finished or not."""
        return self._one("")

    def last_cutoff(self) -> datetime | None:
        """The cutoff of the latest digest: the next digest's window starts there."""
        latest = self.latest_digest()
        return None if latest is None else latest.cutoff

    def create_digest(
        self,
        *,
        window_start: datetime,
        cutoff: datetime,
        created: datetime,
        content_hash: str,
        subject: str,
        item_keys: Sequence[str],
        payload: str,
        schedule_slot: datetime | None = None,
    ) -> DigestRecord:
        """Record a new digest as 'sending'. Refused while another digest is unfinished.

        Times are stored to the second (the store's timestamp format), so the returned
        record is read back: a resumed send sees exactly what the first one saw.
        """
        with self.store.transaction() as db:
            row = db.execute("SELECT id FROM digests WHERE status = ? LIMIT 1", (SENDING,)).fetchone()
            if row is not None:
                raise DigestError(f"digest {row['id']} is still being sent; finish it before starting another")
            cursor = db.execute(
                "INSERT INTO digests(window_start, cutoff, created, content_hash, subject, item_keys, payload,"
                " status, schedule_slot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    to_iso(window_start),
                    to_iso(cutoff),
                    to_iso(created),
                    content_hash,
                    subject,
                    json.dumps(list(item_keys)),
                    payload,
                    SENDING,
                    to_iso(schedule_slot) if schedule_slot is not None else None,
                ),
            )
            digest_id = int(cursor.lastrowid or 0)
        record = self.digest(digest_id)
        assert record is not None
        return record

    def finish(self, digest_id: int) -> None:
        """Mark the digest sent: nobody is left to try."""
        with self.store.transaction() as db:
            db.execute("UPDATE digests SET status = ? WHERE id = ?", (FINISHED, digest_id))

    # -- deliveries -----------------------------------------------------------------

    def deliveries(self, digest_id: int) -> dict[str, Delivery]:
        """Every recipient row of the digest, by lower-cased address."""
        rows = self.db.execute(
            "SELECT email, status, attempts, error, updated FROM deliveries WHERE digest_id = ? ORDER BY rowid",
            (digest_id,),
        )
        return {
            r["email"]: Delivery(r["email"], r["status"], int(r["attempts"]), r["error"], from_iso(r["updated"]))
            for r in rows
        }

    def counts(self, digest_id: int) -> dict[str, int]:
        """How many recipients are in each delivery status."""
        rows = self.db.execute(
            "SELECT status, COUNT(*) FROM deliveries WHERE digest_id = ? GROUP BY status ORDER BY status",
            (digest_id,),
        )
        return {str(status): int(count) for status, count in rows}

    def _mark(self, digest_id: int, email: str, status: str, attempts: int, error: str | None) -> None:
        # One transaction per mark: a crash right after it never loses or reorders it.
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO deliveries(digest_id, email, status, attempts, error, updated) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(digest_id, email) DO UPDATE SET status = excluded.status,"
                " attempts = excluded.attempts, error = excluded.error, updated = excluded.updated",
                (digest_id, _key(email), status, attempts, error, to_iso(self._now())),
            )

    def mark_pending(self, digest_id: int, email: str, attempts: int) -> None:
        """Written right before DATA: from here on the server may get the message."""
        self._mark(digest_id, email, PENDING, attempts, None)

    def mark_sent(self, digest_id: int, email: str, attempts: int) -> None:
        self._mark(digest_id, email, SENT, attempts, None)

    def mark_failed(self, digest_id: int, email: str, attempts: int, error: str) -> None:
        self._mark(digest_id, email, FAILED, attempts, error)

    def mark_unknown(self, digest_id: int, email: str, attempts: int, error: str) -> None:
        self._mark(digest_id, email, UNKNOWN_STATUS, attempts, error)

    def resolve_pending(self, digest_id: int) -> list[str]:
        """Turn rows a killed process left 'pending' into 'unknown'; the addresses affected."""
        with self.store.transaction() as db:
            emails = [
                str(r[0])
                for r in db.execute(
                    "SELECT email FROM deliveries WHERE digest_id = ? AND status = ? ORDER BY rowid",
                    (digest_id, PENDING),
                )
            ]
            db.execute(
                "UPDATE deliveries SET status = ?, error = ?, updated = ? WHERE digest_id = ? AND status = ?",
                (UNKNOWN_STATUS, PENDING_IS_UNKNOWN, to_iso(self._now()), digest_id, PENDING),
            )
        return emails


# -- sending ------------------------------------------------------------------------


@dataclass(frozen=True)
class SendReport:
    """What one :func:`deliver` call did.

    ``skipped`` counts recipients already handled before the call; ``failures`` has one
    line per address that failed or ended unknown in this call, with the server's reply.
    In a dry run nothing is sent and ``would_send`` counts the messages built.
    """

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    failures: tuple[str, ...] = ()
    dry_run: bool = False
    would_send: int = 0


class _Pacer:
    """At most ``rate`` transactions a second, spaced evenly (no bursts)."""

    def __init__(self, rate: float, monotonic: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.monotonic = monotonic
        self.sleep = sleep
        self.next_at: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.monotonic()
        if self.next_at is not None and now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


def deliver(
    smtp: SmtpConfig,
    ledger: Ledger,
    digest: DigestRecord,
    recipients: Sequence[Subscriber],
    make_message: Callable[[Subscriber], EmailMessage],
    *,
    rate_limit: float = 0.0,
    retry_unknown: bool = False,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    sender: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> SendReport:
    """Send ``digest`` to every recipient who does not have it yet, recording each outcome.

    Recipients with a 'sent', 'failed' or 'unknown' row are skipped; with
    ``retry_unknown`` the 'unknown' ones (and any left 'pending' by a killed process) are
    sent again (of a finished digest, only those). The digest is marked finished once every
    recipient has an outcome.
    A connection or login that fails after the configured retries raises SendError; the
    rows written so far stand, and the next call resumes from there.
    ``sender`` overrides the envelope sender taken from each message's From header.
    """
    existing = ledger.deliveries(digest.id)
    if not dry_run and not retry_unknown:
        # A killed process left these; they may have been delivered, so they count as unknown.
        resolved = set(ledger.resolve_pending(digest.id))
        if resolved:
            existing = ledger.deliveries(digest.id)
    else:
        resolved = {email for email, row in existing.items() if row.status == PENDING}

    retry_states = {UNKNOWN_STATUS, PENDING} if retry_unknown else set()
    # Retrying a finished digest resends the ambiguous copies only: a subscriber who joined
    # after it went out gets the next digest, not this one.
    only_retries = retry_unknown and digest.status == FINISHED
    todo: list[Subscriber] = []
    seen: set[str] = set()
    skipped = 0
    failures: list[str] = []
    unknown = 0
    for subscriber in recipients:
        key = _key(subscriber.email)
        if key in seen:
            continue
        seen.add(key)
        row = existing.get(key)
        if row is None and only_retries:
            continue
        if row is None or row.status in retry_states:
            todo.append(subscriber)
        elif key in resolved:
            unknown += 1
            failures.append(f"{subscriber.email}: unknown: {PENDING_IS_UNKNOWN}")
        else:
            skipped += 1

    total = len(todo)
    if progress is not None:
        progress(0, total)

    if dry_run:
        for done, subscriber in enumerate(todo, start=1):
            message = make_message(subscriber)
            if sender is None:
                envelope_sender(message)
            if progress is not None:
                progress(done, total)
        return SendReport(
            unknown=unknown,
            skipped=skipped,
            failures=tuple(failures),
            dry_run=True,
            would_send=total,
        )

    sent = failed = 0
    pacer = _Pacer(rate_limit, monotonic, sleep)
    if todo:
        with open_transport(smtp, environ=environ, sleep=sleep, ssl_context=ssl_context) as mailer:
            for done, subscriber in enumerate(todo, start=1):
                email = subscriber.email
                previous = existing.get(_key(email))
                before = previous.attempts if previous is not None else 0
                try:
                    message = make_message(subscriber)
                    envelope_from = sender or envelope_sender(message)
                except DigestError as exc:
                    # This address cannot be put in a message (a ConfigError, which stops the
                    # whole send, is not a DigestError).
                    ledger.mark_failed(digest.id, email, before, str(exc))
                    failed += 1
                    failures.append(f"{email}: failed: {exc}")
                    continue

                def pending(number: int, email: str = email, before: int = before) -> None:
                    ledger.mark_pending(digest.id, email, before + number)

                result, tries = mailer.send(
                    envelope_from, email, message, before_data=pending, before_attempt=pacer.wait
                )
                attempts = before + tries
                if result.outcome == ACCEPTED:
                    ledger.mark_sent(digest.id, email, attempts)
                    sent += 1
                elif result.outcome == UNKNOWN:
                    ledger.mark_unknown(digest.id, email, attempts, result.reply)
                    unknown += 1
                    failures.append(f"{email}: unknown: {result.reply}")
                else:
                    reply = result.reply
                    if result.outcome == TRANSIENT:
                        reply = f"{reply} (still refused after {tries} attempts)"
                    else:
                        assert result.outcome == PERMANENT
                    ledger.mark_failed(digest.id, email, attempts, reply)
                    failed += 1
                    failures.append(f"{email}: failed: {reply}")
                if progress is not None:
                    progress(done, total)
    ledger.finish(digest.id)
    return SendReport(sent=sent, failed=failed, unknown=unknown, skipped=skipped, failures=tuple(failures))
