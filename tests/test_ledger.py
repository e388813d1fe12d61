"""The send ledger and ``deliver``: exactly-once delivery against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from smtp_support import SENDER, SmtpServer, child_deliver_command, free_port, simple_message, smtp_server

from syndicate.config import SmtpConfig
from syndicate.errors import DigestError, SendError
from syndicate.ledger import DigestRecord, Ledger, deliver
from syndicate.store import Store
from syndicate.subscribers import Subscriber

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PEOPLE = [Subscriber(f"reader{n}@example.org", f"Reader {n}") for n in range(1, 7)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db") as opened:
        yield opened


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(store, now=lambda: NOW)


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with smtp_server() as running:
        yield running


def new_digest(ledger: Ledger, *, cutoff: datetime = NOW, slot: datetime | None = None) -> DigestRecord:
    return ledger.create_digest(
        window_start=cutoff - timedelta(days=7),
        cutoff=cutoff,
        created=cutoff,
        content_hash="c0ffee" * 8,
        subject="The week",
        item_keys=["energy/grid", "economy/budget"],
        payload='{"html": "<p>x</p>"}',
        schedule_slot=slot,
    )


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- the ledger itself ----------------------------------------------------------------


def test_digest_lifecycle(ledger: Ledger) -> None:
    assert (ledger.open_digest(), ledger.latest_digest(), ledger.last_cutoff()) == (None, None, None)
    slot = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    first = new_digest(ledger, cutoff=NOW.replace(microsecond=123456), slot=slot)
    assert first == DigestRecord(
        id=first.id,
        window_start=NOW - timedelta(days=7),
        cutoff=NOW,  # stored to the second, and read back
        created=NOW,
        content_hash="c0ffee" * 8,
        subject="The week",
        item_keys=("energy/grid", "economy/budget"),
        payload='{"html": "<p>x</p>"}',
        status="sending",
        schedule_slot=slot,
    )
    assert ledger.open_digest() == first
    with pytest.raises(DigestError, match=f"digest {first.id} is still being sent"):
        new_digest(ledger)
    ledger.finish(first.id)
    assert ledger.open_digest() is None
    assert ledger.latest_digest() == ledger.digest(first.id)
    assert ledger.digest(first.id) is not None and ledger.digest(first.id).status == "sent"  # type: ignore[union-attr]
    second = new_digest(ledger, cutoff=NOW + timedelta(days=1))
    assert second.id > first.id
    assert ledger.last_cutoff() == NOW + timedelta(days=1)
    ledger.finish(second.id)
    assert ledger.latest_digest() == ledger.digest(second.id)


def test_each_mark_is_committed_on_its_own(ledger: Ledger, store: Store) -> None:
    record = new_digest(ledger)
    ledger.mark_pending(record.id, "Ana@Example.org", 1)
    # Another connection (another process) sees it at once: it is committed, not buffered.
    with Store(store.path) as other:
        rows = Ledger(other).deliveries(record.id)
    assert {k: (v.status, v.attempts) for k, v in rows.items()} == {"ana@example.org": ("pending", 1)}
    ledger.mark_sent(record.id, "ana@example.org", 1)
    ledger.mark_failed(record.id, "ben@example.org", 2, "550 no")
    ledger.mark_unknown(record.id, "chloe@example.org", 1, "lost")
    got = ledger.deliveries(record.id)
    assert {k: (v.status, v.attempts, v.error) for k, v in got.items()} == {
        "ana@example.org": ("sent", 1, None),
        "ben@example.org": ("failed", 2, "550 no"),
        "chloe@example.org": ("unknown", 1, "lost"),
    }
    assert got["ana@example.org"].updated == NOW
    assert ledger.counts(record.id) == {"failed": 1, "sent": 1, "unknown": 1}


# -- deliver -----------------------------------------------------------------------


def test_every_subscriber_gets_one_copy_with_the_right_envelope(
    ledger: Ledger, server: SmtpServer, store: Store
) -> None:
    record = new_digest(ledger)
    progress: list[tuple[int, int]] = []
    report = deliver(
        server.config(), ledger, record, PEOPLE, simple_message, progress=lambda d, t: progress.append((d, t))
    )
    assert (report.sent, report.failed, report.unknown, report.skipped, report.failures) == (6, 0, 0, 0, ())
    received = server.messages()
    assert [(m.mail_from, m.rcpt_tos) for m in received] == [(SENDER, [p.email]) for p in PEOPLE]
    assert [message_from_bytes(m.data, policy=default)["To"] for m in received] == [
        f"{p.name} <{p.email}>" for p in PEOPLE
    ]
    assert server.connections == 1
    assert progress == [(n, 6) for n in range(7)]
    assert {v.status for v in ledger.deliveries(record.id).values()} == {"sent"}
    assert ledger.open_digest() is None

    again = deliver(server.config(), ledger, record, PEOPLE, simple_message)
    assert (again.sent, again.skipped) == (0, 6)
    assert len(server.messages()) == 6
    assert server.connections == 1  # nothing to send: no connection at all


def test_transient_failure_then_accept_counts_attempts(ledger: Ledger, server: SmtpServer) -> None:
    record = new_digest(ledger)
    server.temp_fail("reader2@example.org", times=2)
    sleeps = Sleeps()
    report = deliver(server.config(retries=3), ledger, record, PEOPLE[:3], simple_message, sleep=sleeps)
    assert (report.sent, report.failed) == (3, 0)
    assert sleeps == [1.0, 2.0]
    assert {k: (v.status, v.attempts) for k, v in ledger.deliveries(record.id).items()} == {
        "reader1@example.org": ("sent", 1),
        "reader2@example.org": ("sent", 3),
        "reader3@example.org": ("sent", 1),
    }
    assert server.copies() == {p.email: 1 for p in PEOPLE[:3]}


def test_transient_failure_that_never_clears_is_recorded_failed(ledger: Ledger, server: SmtpServer) -> None:
    record = new_digest(ledger)
    server.temp_fail("reader1@example.org", times=10)
    report = deliver(server.config(retries=2), ledger, record, PEOPLE[:2], simple_message, sleep=Sleeps())
    assert (report.sent, report.failed) == (1, 1)
    assert report.failures == (
        "reader1@example.org: failed: RCPT TO: 451 4.3.0 Try again later (still refused after 3 attempts)",
    )
    assert ledger.deliveries(record.id)["reader1@example.org"].attempts == 3


def test_permanent_failure_is_recorded_and_not_retried_on_rerun(ledger: Ledger, server: SmtpServer) -> None:
    record = new_digest(ledger)
    server.reject("reader3@example.org")
    sleeps = Sleeps()
    report = deliver(server.config(retries=3), ledger, record, PEOPLE, simple_message, sleep=sleeps)
    assert (report.sent, report.failed, report.unknown) == (5, 1, 0)
    assert report.failures == ("reader3@example.org: failed: RCPT TO: 550 5.1.1 No such user here",)
    assert sleeps == []
    row = ledger.deliveries(record.id)["reader3@example.org"]
    assert (row.status, row.attempts, row.error) == ("failed", 1, "RCPT TO: 550 5.1.1 No such user here")
    assert ledger.open_digest() is None

    rcpts = server.rcpt_commands
    rerun = deliver(server.config(), ledger, record, PEOPLE, simple_message, retry_unknown=True)
    assert (rerun.sent, rerun.failed, rerun.skipped) == (0, 0, 6)
    assert server.rcpt_commands == rcpts
    assert server.copies() == {p.email: 1 for p in PEOPLE if p.email != "reader3@example.org"}


def test_connection_lost_after_data_is_unknown_and_resent_only_on_request(ledger: Ledger, server: SmtpServer) -> None:
    record = new_digest(ledger)
    server.drop_after_data("reader2@example.org")
    report = deliver(server.config(), ledger, record, PEOPLE[:4], simple_message)
    assert (report.sent, report.failed, report.unknown) == (3, 0, 1)
    assert report.failures == (
        "reader2@example.org: unknown: connection lost after the message was sent, before the server's reply "
        "(Connection unexpectedly closed)",
    )
    assert server.connections == 2  # reconnected for the rest
    # Ambiguous deliveries do not keep the digest open.
    assert ledger.open_digest() is None
    assert server.copies() == {p.email: 1 for p in PEOPLE[:4]}

    rerun = deliver(server.config(), ledger, record, PEOPLE[:4], simple_message)
    assert (rerun.sent, rerun.unknown, rerun.skipped) == (0, 0, 4)
    assert server.copies()["reader2@example.org"] == 1

    latest = ledger.latest_digest()
    assert latest is not None and latest.id == record.id
    retried = deliver(server.config(), ledger, latest, PEOPLE[:4], simple_message, retry_unknown=True)
    assert (retried.sent, retried.skipped) == (1, 3)
    assert server.copies()["reader2@example.org"] == 2
    row = ledger.deliveries(record.id)["reader2@example.org"]
    assert (row.status, row.attempts) == ("sent", 2)


def test_connection_refused_raises_and_leaves_the_digest_open(ledger: Ledger) -> None:
    record = new_digest(ledger)
    port = free_port()
    config = SmtpConfig(host="127.0.0.1", port=port, security="none", retries=1)
    sleeps = Sleeps()
    with pytest.raises(SendError) as caught:
        deliver(config, ledger, record, PEOPLE, simple_message, sleep=sleeps)
    assert str(caught.value) == f"cannot connect to SMTP server 127.0.0.1:{port}: Connection refused"
    assert sleeps == [1.0]
    assert ledger.deliveries(record.id) == {}
    assert ledger.open_digest() == record


def test_rate_limit_spaces_messages_on_a_fake_clock(ledger: Ledger, server: SmtpServer) -> None:
    clock = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    record = new_digest(ledger)
    report = deliver(
        server.config(), ledger, record, PEOPLE[:5], simple_message, rate_limit=4.0, sleep=sleep,
        monotonic=lambda: clock[0],
    )  # fmt: skip
    assert report.sent == 5
    assert sleeps == [0.25] * 4
    assert clock[0] == 101.0


def test_rate_limit_does_not_wait_when_sending_is_slower_anyway(ledger: Ledger, server: SmtpServer) -> None:
    clock = [0.0]
    sleeps = Sleeps()

    def monotonic() -> float:
        clock[0] += 1.0  # every message takes a second of fake time
        return clock[0]

    report = deliver(
        server.config(), ledger, new_digest(ledger), PEOPLE[:3], simple_message, rate_limit=2.0, sleep=sleeps,
        monotonic=monotonic,
    )  # fmt: skip
    assert (report.sent, sleeps) == (3, [])


def test_dry_run_builds_every_message_but_neither_connects_nor_records(ledger: Ledger) -> None:
    record = new_digest(ledger)
    built: list[str] = []

    def make(subscriber: Subscriber) -> EmailMessage:
        built.append(subscriber.email)
        return simple_message(subscriber)

    unreachable = SmtpConfig(host="127.0.0.1", port=free_port(), security="none", retries=0)
    report = deliver(unreachable, ledger, record, PEOPLE, make, dry_run=True)
    assert (report.dry_run, report.would_send, report.sent, report.skipped) == (True, 6, 0, 0)
    assert built == [p.email for p in PEOPLE]
    assert ledger.deliveries(record.id) == {}
    assert ledger.open_digest() == record

    def broken(subscriber: Subscriber) -> EmailMessage:
        raise DigestError("template exploded")

    with pytest.raises(DigestError, match="template exploded"):
        deliver(unreachable, ledger, record, PEOPLE, broken, dry_run=True)


def test_a_message_that_cannot_be_built_fails_that_address_only(ledger: Ledger, server: SmtpServer) -> None:
    def make(subscriber: Subscriber) -> EmailMessage:
        if subscriber.email == "reader2@example.org":
            raise DigestError("cannot address a message to 'reader2@example.org'")
        return simple_message(subscriber)

    record = new_digest(ledger)
    report = deliver(server.config(), ledger, record, PEOPLE[:3], make)
    assert (report.sent, report.failed) == (2, 1)
    assert report.failures == ("reader2@example.org: failed: cannot address a message to 'reader2@example.org'",)
    assert ledger.deliveries(record.id)["reader2@example.org"].attempts == 0


def test_non_ascii_address_without_smtputf8_is_failed(ledger: Ledger) -> None:
    zoe = Subscriber("zoë@exämple.org", "Zoë")
    with smtp_server(smtputf8=False) as plain:
        report = deliver(plain.config(), ledger, new_digest(ledger), [PEOPLE[0], zoe], simple_message)
        assert (report.sent, report.failed) == (1, 1)
        assert report.failures[0].startswith("zoë@exämple.org: failed: the SMTP server does not offer SMTPUTF8")
        assert plain.copies() == {PEOPLE[0].email: 1}


def test_duplicates_in_the_list_and_envelope_sender_override(ledger: Ledger, server: SmtpServer) -> None:
    twice = [PEOPLE[0], Subscriber(PEOPLE[0].email.upper()), PEOPLE[1]]
    report = deliver(server.config(), ledger, new_digest(ledger), twice, simple_message, sender="bounces@example.net")
    assert report.sent == 2
    assert [(m.mail_from, m.rcpt_tos) for m in server.messages()] == [
        ("bounces@example.net", [PEOPLE[0].email]),
        ("bounces@example.net", [PEOPLE[1].email]),
    ]


# -- a process killed half-way ---------------------------------------------------------


def _kill_child_when_stalled(server: SmtpServer, db: Path, emails: list[str], tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    with log.open("w") as out:
        child = subprocess.Popen(child_deliver_command(db, server.port, emails), stdout=out, stderr=out)
        try:
            stalled = server.wait_stalled(timeout=60)
            assert stalled, f"the child never reached the stalled reply: {log.read_text()}"
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    server.release()


def test_killed_before_data_resumes_with_exactly_one_copy_each(tmp_path: Path, server: SmtpServer) -> None:
    db = tmp_path / "state.db"
    with Store(db) as store:
        record = new_digest(Ledger(store))
    emails = [p.email for p in PEOPLE]
    server.stall_rcpt(nth=4)  # the fourth recipient's RCPT is never answered
    _kill_child_when_stalled(server, db, emails, tmp_path)
    assert server.copies() == {e: 1 for e in emails[:3]}

    with Store(db) as store:
        ledger = Ledger(store)
        assert {k: v.status for k, v in ledger.deliveries(record.id).items()} == {e: "sent" for e in emails[:3]}
        resumed = ledger.open_digest()
        assert resumed == record
        report = deliver(server.config(), ledger, resumed, PEOPLE, simple_message)
        assert (report.sent, report.skipped, report.unknown) == (3, 3, 0)
        assert ledger.open_digest() is None
    assert server.copies() == {e: 1 for e in emails}


def test_killed_after_data_counts_as_unknown_and_is_not_resent(tmp_path: Path, server: SmtpServer) -> None:
    db = tmp_path / "state.db"
    with Store(db) as store:
        record = new_digest(Ledger(store))
    emails = [p.email for p in PEOPLE]
    # The third message arrives in full, but the reply is held until the process is dead.
    server.stall_after_data("reader3@example.org")
    _kill_child_when_stalled(server, db, emails, tmp_path)
    assert server.copies() == {e: 1 for e in emails[:3]}

    with Store(db) as store:
        ledger = Ledger(store)
        assert ledger.deliveries(record.id)["reader3@example.org"].status == "pending"
        report = deliver(server.config(), ledger, record, PEOPLE, simple_message)
        assert (report.sent, report.skipped, report.unknown) == (3, 2, 1)
        assert report.failures == (
            "reader3@example.org: unknown: interrupted after the message was handed to the server and before "
            "its reply was recorded; it may have been delivered",
        )
        assert ledger.deliveries(record.id)["reader3@example.org"].status == "unknown"
        assert ledger.open_digest() is None
    # At most once: the server already had it, and it was not sent again.
    assert server.copies() == {e: 1 for e in emails}
