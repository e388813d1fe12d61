"""The digest email as a mail client sees it: parts, headers, unsubscribe, preview files."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from click.testing import CliRunner
from run_support import article_md, write_site

from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.message import build_message, message_id
from syndicate.tokens import unsubscribe_token, verify_unsubscribe_token

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECRET = "s3cret-for-tests"


def _message(
    tmp_path: Path, *, subject: str = "Test Ledger: 4 new articles", to: str = "ana@example.org"
) -> EmailMessage:
    config = load_config(write_site(tmp_path / "site") / "syndicate.toml")
    return build_message(
        config,
        subject=subject,
        html="<html><body><p>Hello <a href='https://ledger.example.eu/'>site</a></p></body></html>",
        text="Hello\n\nhttps://ledger.example.eu/\n",
        to_email=to,
        to_name="Ana Álvarez",
        date=NOW,
        content_hash="ab" * 32,
        secret=SECRET,
    )


def _reparsed(msg: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(bytes(msg), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_text_then_html_in_utf8(tmp_path: Path) -> None:
    msg = _reparsed(_message(tmp_path))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parts[0].get_content().startswith("Hello")
    assert not msg.defects and not any(p.defects for p in parts)


def test_headers(tmp_path: Path) -> None:
    raw = bytes(_message(tmp_path))
    msg = _reparsed(_message(tmp_path))
    assert msg["From"] == "Test Ledger <digest@ledger.example.eu>"
    assert msg["To"].addresses[0].addr_spec == "ana@example.org"
    assert msg["To"].addresses[0].display_name == "Ana Álvarez"
    assert msg["Date"].datetime == NOW
    assert msg["List-Id"] == "Digest <digest.ledger.example.eu>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["MIME-Version"] == "1.0"
    # Headers are 7-bit on the wire (RFC 2047 for the name), every line within 998 octets.
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_list_unsubscribe_carries_a_verifiable_token(tmp_path: Path) -> None:
    msg = _reparsed(_message(tmp_path))
    links = [part.strip().strip("<>") for part in msg["List-Unsubscribe"].split(",")]
    https = [u for u in links if u.startswith("https://")]
    mailto = [u for u in links if u.startswith("mailto:")]
    assert len(https) == 1 and len(mailto) == 1
    query = parse_qs(urlsplit(https[0]).query)
    assert query["email"] == ["ana@example.org"]
    token = query["token"][0]
    assert token == unsubscribe_token(SECRET, "ana@example.org")
    assert verify_unsubscribe_token(SECRET, "ana@example.org", token)
    assert not verify_unsubscribe_token(SECRET, "ben@example.org", token)
    assert not verify_unsubscribe_token("another secret", "ana@example.org", token)


def test_list_unsubscribe_is_sent_as_plain_uris_folded_between_them(tmp_path: Path) -> None:
    raw = bytes(_message(tmp_path))
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    block = head.split("List-Unsubscribe: ", 1)[1]
    lines = [block.split("\r\n")[0]]
    for line in block.split("\r\n")[1:]:
        if not line.startswith(" "):
            break
        lines.append(line)
    # Mail providers read the URIs literally: no RFC 2047 encoded words, each URI whole on its line.
    assert "=?" not in "".join(lines)
    assert lines[0].startswith("<https://ledger.example.eu/unsubscribe?email=ana%40example.org&token=")
    assert lines[0].endswith(">,") and lines[1].startswith(" <mailto:unsubscribe@ledger.example.eu?subject=")
    assert all(len(line) <= 998 for line in lines)


def test_message_id_is_stable_per_digest_and_recipient(tmp_path: Path) -> None:
    first = _message(tmp_path / "a")["Message-ID"]
    again = _message(tmp_path / "b")["Message-ID"]
    other = _message(tmp_path / "c", to="ben@example.org")["Message-ID"]
    assert first == again != other
    assert first == message_id("ab" * 32, "ana@example.org", "ledger.example.eu")
    assert first.startswith("<") and first.endswith("@ledger.example.eu>")


def test_a_line_break_in_the_subject_cannot_add_a_header(tmp_path: Path) -> None:
    msg = _reparsed(_message(tmp_path, subject="Weekly\r\nBcc: victim@example.net\nnews"))
    assert msg["Bcc"] is None
    assert msg["Subject"] == "Weekly Bcc: victim@example.net news"


def test_digest_command_writes_previews(tmp_path: Path) -> None:
    root = write_site(
        tmp_path / "site",
        extra_records={
            "amp.md": article_md('"Energy & climate: <b>bold</b> plans"', "2026-11-27T09:00:00+01:00", "Energy")
        },
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "-c",
            str(root / "syndicate.toml"),
            "digest",
            "--html",
            str(out / "d.html"),
            "--text",
            str(out / "d.txt"),
            "--eml",
            str(out / "d.eml"),
            "--now",
            "2026-11-28T12:00:00Z",
        ],
        env={"SYNDICATE_UNSUBSCRIBE_SECRET": SECRET},
    )
    assert result.exit_code == 0, result.output
    assert "Test Ledger: 5 new articles" in result.output
    html = (out / "d.html").read_text(encoding="utf-8")
    text = (out / "d.txt").read_text(encoding="utf-8")
    assert "Energy &amp; climate: &lt;b&gt;bold&lt;/b&gt; plans" in html
    assert "Energy & climate: <b>bold</b> plans" in text
    token = unsubscribe_token(SECRET, "reader@example.com")
    assert f"token={token}" in text and f"token={token}" in html
    msg = message_from_bytes((out / "d.eml").read_bytes(), policy=default)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(preferencelist=("html",))
    assert body is not None and "North Sea grid plan" in body.get_content()
    # A preview records nothing: the next real digest still holds everything.
    again = CliRunner().invoke(
        cli,
        ["-c", str(root / "syndicate.toml"), "digest", "--text", str(out / "d2.txt"), "--now", "2026-11-28T12:05:00Z"],
        env={"SYNDICATE_UNSUBSCRIBE_SECRET": SECRET},
    )
    assert again.exit_code == 0, again.output
    assert "5 new articles" in again.output


def test_unsubscribe_token_command(tmp_path: Path) -> None:
    root = write_site(tmp_path / "site")
    env = {"SYNDICATE_UNSUBSCRIBE_SECRET": SECRET}
    args = ["-c", str(root / "syndicate.toml"), "unsubscribe-token"]
    made = CliRunner().invoke(cli, [*args, "ana@example.org"], env=env)
    assert made.exit_code == 0
    token = made.output.strip()
    assert token == unsubscribe_token(SECRET, "ana@example.org")
    ok = CliRunner().invoke(cli, [*args, "ana@example.org", "--verify", token], env=env)
    assert ok.exit_code == 0 and "valid token" in ok.output
    bad = CliRunner().invoke(cli, [*args, "ben@example.org", "--verify", token], env=env)
    assert bad.exit_code == 1
    assert "invalid token for ben@example.org" in bad.output


def test_without_a_secret_in_the_environment_a_state_key_is_created_once(tmp_path: Path) -> None:
    root = write_site(tmp_path / "site")
    args = ["-c", str(root / "syndicate.toml"), "unsubscribe-token", "ana@example.org"]
    first = CliRunner().invoke(cli, args)
    second = CliRunner().invoke(cli, args)
    assert first.exit_code == 0 and second.exit_code == 0
    key = root / ".syndicate" / "unsubscribe.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert first.output.strip().splitlines()[-1] == second.output.strip().splitlines()[-1]
