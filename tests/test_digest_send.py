"""``syndicate digest --send`` and friends against a real SMTP server on loopback."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from click.testing import CliRunner, Result
from run_support import article_md, write_site
from smtp_support import smtp_server

from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.ledger import Ledger
from syndicate.store import open_store

SUBSCRIBERS = ("ana@example.org", "ben@example.org", "chloe@example.org")
ENV = {"SYNDICATE_UNSUBSCRIBE_SECRET": "test-secret"}


def digest(site: Path, *args: str, now: str = "2026-11-28T12:00:00Z") -> Result:
    return CliRunner().invoke(cli, ["-c", str(site / "syndicate.toml"), "digest", *args, "--now", now], env=ENV)


def _parsed(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_send_delivers_once_and_a_second_send_finds_nothing_new(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        site = write_site(tmp_path / "site", smtp_port=smtp.port)
        first = digest(site, "--send")
        assert first.exit_code == 0, first.output
        assert "digest 1 (4 items): 3 sent, 0 failed, 0 unknown, 0 already done" in first.output
        assert smtp.copies() == dict.fromkeys(SUBSCRIBERS, 1)
        again = digest(site, "--send", now="2026-11-28T12:30:00Z")
        assert again.exit_code == 0
        assert "nothing new since 2026-11-28 13:00 CET; no digest sent" in again.output
        assert len(smtp.messages()) == 3

        # An article published after the cutoff goes into the next digest, and only it.
        (site / "articles" / "new.md").write_text(
            article_md("After the cutoff", "2026-11-28T14:00:00+01:00", "Energy"), encoding="utf-8"
        )
        build = CliRunner().invoke(cli, ["-c", str(site / "syndicate.toml"), "build", "--now", "2026-11-28T13:10:00Z"])
        assert build.exit_code == 0, build.output
        third = digest(site, "--send", now="2026-11-28T13:15:00Z")
        assert "digest 2 (1 item): 3 sent" in third.output
        latest = _parsed(smtp.messages()[-1].data)
        assert latest["Subject"].startswith("Test Ledger: 1 new articles")


def test_a_4xx_is_retried_and_a_5xx_is_recorded_not_retried(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        site = write_site(tmp_path / "site", smtp_port=smtp.port)
        text = (site / "syndicate.toml").read_text().replace("retries = 0", "retries = 2")
        (site / "syndicate.toml").write_text(text)
        smtp.temp_fail("ana@example.org", times=1)
        smtp.reject("ben@example.org")
        result = digest(site, "--send")
        assert result.exit_code == 1
        assert "ben@example.org: failed: RCPT TO: 550 5.1.1 No such user here" in result.output
        assert "Error: digest 1 (4 items): 2 sent, 1 failed, 0 unknown, 0 already done" in result.output
        assert smtp.copies() == {"ana@example.org": 1, "chloe@example.org": 1}
        config = load_config(site / "syndicate.toml")
        with open_store(config.state_path) as store:
            rows = Ledger(store).deliveries(1)
        assert rows["ana@example.org"].attempts == 2 and rows["ana@example.org"].status == "sent"
        assert rows["ben@example.org"].status == "failed"
        # The failed address is not retried by a later send; the digest is complete.
        later = digest(site, "--send", now="2026-11-28T12:20:00Z")
        assert later.exit_code == 0 and "nothing new" in later.output
        assert smtp.copies() == {"ana@example.org": 1, "chloe@example.org": 1}


def test_an_ambiguous_delivery_is_resent_only_with_retry_unknown(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        site = write_site(tmp_path / "site", smtp_port=smtp.port)
        smtp.drop_after_data("chloe@example.org")
        result = digest(site, "--send")
        assert result.exit_code == 1
        assert "1 unknown" in result.output and "--retry-unknown resends the ambiguous ones" in result.output
        before = len(smtp.messages())
        with smtp_server() as healthy:
            text = (site / "syndicate.toml").read_text().replace(f"port = {smtp.port}", f"port = {healthy.port}")
            (site / "syndicate.toml").write_text(text)
            plain = digest(site, "--send", now="2026-11-28T12:10:00Z")
            assert "nothing new" in plain.output and healthy.copies() == {}
            retried = digest(site, "--retry-unknown", now="2026-11-28T12:11:00Z")
            assert retried.exit_code == 0, retried.output
            assert healthy.copies() == {"chloe@example.org": 1}
            assert "1 sent, 0 failed, 0 unknown, 2 already done" in retried.output
        assert len(smtp.messages()) == before


def test_test_copy_and_dry_run_record_nothing(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        site = write_site(tmp_path / "site", smtp_port=smtp.port)
        copy = digest(site, "--to", "editor@example.net")
        assert copy.exit_code == 0, copy.output
        assert "Sent a test copy to editor@example.net (not recorded)" in copy.output
        assert smtp.copies() == {"editor@example.net": 1}
        dry = digest(site, "--send", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "dry run: 4 item(s) for 3 subscriber(s); nothing sent, nothing recorded" in dry.output
        assert smtp.copies() == {"editor@example.net": 1}
        real = digest(site, "--send", now="2026-11-28T12:05:00Z")
        assert "3 sent" in real.output
        assert smtp.copies() == {"editor@example.net": 1, **dict.fromkeys(SUBSCRIBERS, 1)}


def test_unreachable_server_fails_with_one_line_and_the_next_send_resumes(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site")  # port 1: nothing listens
    failed = digest(site, "--send")
    assert failed.exit_code == 1
    assert failed.output.strip().splitlines()[-1] == (
        "Error: cannot connect to SMTP server 127.0.0.1:1: Connection refused"
    )
    with smtp_server() as smtp:
        text = (site / "syndicate.toml").read_text().replace("port = 1", f"port = {smtp.port}")
        (site / "syndicate.toml").write_text(text)
        resumed = digest(site, "--send", now="2026-11-28T12:30:00Z")
        assert resumed.exit_code == 0, resumed.output
        assert "digest 1 (4 items): 3 sent" in resumed.output
        assert smtp.copies() == dict.fromkeys(SUBSCRIBERS, 1)


def test_outbox_writes_messages_through_the_ledger(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site")
    text = (site / "syndicate.toml").read_text().replace("[smtp]\n", '[smtp]\noutbox = "mail"\n')
    (site / "syndicate.toml").write_text(text)
    result = digest(site, "--send")
    assert result.exit_code == 0, result.output
    files = sorted((site / "mail").glob("*.eml"))
    assert len(files) == 3
    recipients = sorted(_parsed(f.read_bytes())["To"].addresses[0].addr_spec for f in files)
    assert recipients == list(SUBSCRIBERS)
    again = digest(site, "--send", now="2026-11-28T12:10:00Z")
    assert "nothing new" in again.output
    assert len(list((site / "mail").glob("*.eml"))) == 3


def test_an_article_first_seen_in_the_second_of_a_digest_cutoff_goes_into_the_next(tmp_path: Path) -> None:
    # A build right after a digest, within the same clock second, records its new article
    # one second past the cutoff: it belongs to the next digest, not between the two.
    with smtp_server() as smtp:
        site = write_site(tmp_path / "site", smtp_port=smtp.port)
        first = digest(site, "--send", now="2026-11-28T12:00:00Z")
        assert "digest 1 (4 items)" in first.output
        (site / "articles" / "same-second.md").write_text(
            article_md("Published in the same second", "2026-11-28T12:59:00+01:00", "Energy"), encoding="utf-8"
        )
        build = CliRunner().invoke(cli, ["-c", str(site / "syndicate.toml"), "build", "--now", "2026-11-28T12:00:00Z"])
        assert build.exit_code == 0, build.output
        second = digest(site, "--send", now="2026-11-28T12:00:01Z")
        assert "digest 2 (1 item): 3 sent" in second.output, second.output
        assert any(b"Published in the same second" in m.data for m in smtp.messages()[-3:])


def test_an_internationalised_address_is_delivered_over_smtputf8(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        site = write_site(tmp_path / "site", smtp_port=smtp.port, subscribers=("zoë@example.org", "ana@example.org"))
        result = digest(site, "--send")
        assert result.exit_code == 0, result.output
        assert smtp.copies() == {"zoë@example.org": 1, "ana@example.org": 1}
        received = next(m for m in smtp.messages() if m.rcpt_tos == ["zoë@example.org"])
        assert "SMTPUTF8" in received.mail_options
        # RFC 6532: the header carries the mailbox as raw UTF-8, not as an encoded word.
        assert 'To: "Zoë" <zoë@example.org>'.encode() in received.data
