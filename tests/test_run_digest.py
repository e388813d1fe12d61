"""``syndicate run`` with the digest: real processes, a real SMTP server, source and hub on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from run_support import SOURCE_RSS, article_md, loopback_server, write_site
from smtp_support import SmtpServer, smtp_server

SYNDICATE = str(Path(sys.executable).parent / "syndicate")
SUBSCRIBERS = ("ana@example.org", "ben@example.org", "chloe@example.org")


def _env(now: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env["SYNDICATE_NOW"] = now
    env["SYNDICATE_UNSUBSCRIBE_SECRET"] = "test-secret"
    return env


def run_cli(site: Path, now: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SYNDICATE, "run", *args], cwd=site, env=_env(now), capture_output=True, text=True, timeout=90
    )


def _received(server: SmtpServer) -> list[tuple[str, EmailMessage]]:
    out = []
    for envelope in server.messages():
        msg = message_from_bytes(envelope.data, policy=default)
        assert isinstance(msg, EmailMessage)
        for rcpt in envelope.rcpt_tos:
            out.append((rcpt, msg))
    return out


def _bodies(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_first_run_sends_the_digest_once_and_the_next_due_run_sends_only_what_is_new(tmp_path: Path) -> None:
    with loopback_server() as web, smtp_server() as smtp:
        web.files["/wire.xml"] = (SOURCE_RSS, "application/rss+xml")
        site = write_site(
            tmp_path / "site",
            source_url=web.url + "/wire.xml",
            hub=web.url + "/hub",
            smtp_port=smtp.port,
            extra_records={"later.md": article_md("Scheduled piece", "2026-11-28T18:00:00+01:00", "Economy")},
        )
        first = run_cli(site, "2026-11-28T12:00:00Z")
        assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
        got = _received(smtp)
        assert sorted(rcpt for rcpt, _ in got) == list(SUBSCRIBERS)
        for rcpt, msg in got:
            assert msg["To"].addresses[0].addr_spec == rcpt
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            text, html = _bodies(msg)
            for title in ("North Sea grid plan", "Prices in the euro area", "Wire story one"):
                assert title in text and title in html
            assert "Scheduled piece" not in text  # not yet published at 12:00
        assert "Scheduled piece" not in (site / "feeds" / "all.rss").read_text()

        # Five minutes later: nothing due, nothing printed, nothing sent.
        second = run_cli(site, "2026-11-28T12:05:00Z")
        assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
        assert len(_received(smtp)) == 3

        # The clock moves past the scheduled record and the next slot (daily at 07:00).
        third = run_cli(site, "2026-11-29T06:10:00Z", "--verbose")
        assert third.returncode == 0, third.stderr
        assert "Scheduled piece" in (site / "feeds" / "all.rss").read_text()
        new = _received(smtp)[3:]
        assert sorted(rcpt for rcpt, _ in new) == list(SUBSCRIBERS)
        text, _ = _bodies(new[0][1])
        assert "Scheduled piece" in text
        assert "North Sea grid plan" not in text.split("You may also like")[0]  # sent yesterday: only as related
        assert "digest: digest 2 (1 item): 3 sent, 0 failed, 0 unknown, 0 already done" in third.stdout

        fourth = run_cli(site, "2026-11-29T06:15:00Z")
        assert (fourth.returncode, fourth.stdout, fourth.stderr) == (0, "", "")
        assert len(_received(smtp)) == 6


def test_two_runs_started_at_once_send_one_copy_each(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        site = write_site(tmp_path / "site", smtp_port=smtp.port)
        env = _env("2026-11-28T12:00:00Z")
        command = [SYNDICATE, "run", "--wait", "30"]
        procs = [
            subprocess.Popen(command, cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        results = [p.communicate(timeout=90) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], results
        assert sorted(rcpt for rcpt, _ in _received(smtp)) == list(SUBSCRIBERS)


def test_a_run_killed_during_the_digest_resumes_without_duplicates(tmp_path: Path) -> None:
    with smtp_server() as smtp:
        site = write_site(tmp_path / "site", smtp_port=smtp.port)
        # The second recipient's RCPT is held until the process is gone, so it dies mid-send.
        smtp.stall_rcpt("ben@example.org")
        proc = subprocess.Popen([SYNDICATE, "run"], cwd=site, env=_env("2026-11-28T12:00:00Z"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while not smtp.stalled() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert smtp.stalled(), "the send never reached the second recipient"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        smtp.release()
        assert [rcpt for rcpt, _ in _received(smtp)] == ["ana@example.org"]

        resumed = run_cli(site, "2026-11-28T12:07:00Z")
        assert resumed.returncode == 0, resumed.stderr
        got = _received(smtp)
        assert sorted(rcpt for rcpt, _ in got) == list(SUBSCRIBERS)
        # The same digest, not a new one: same subject and the same digest part of the Message-ID.
        assert len({msg["Subject"] for _, msg in got}) == 1
        assert len({msg["Message-ID"].split(".")[1] for _, msg in got}) == 1

        again = run_cli(site, "2026-11-28T12:10:00Z")
        assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
        assert len(_received(smtp)) == 3


def test_the_example_site_end_to_end_with_its_sources_and_hub_on_loopback(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parent.parent
    site = tmp_path / "example-site"
    site.mkdir()
    shutil.copytree(repo / "example", site / "example")
    with loopback_server() as web, smtp_server() as smtp:
        for name in ("energy-observatory.rss.xml", "danube-policy-review.atom.xml"):
            web.files[f"/{name}"] = ((site / "example" / "sources" / name).read_bytes(), "application/xml")
        config = (repo / "syndicate.toml").read_text(encoding="utf-8")
        config = config.replace('outbox = "mail"\n', "").replace("port = 8025", f"port = {smtp.port}")
        config = config.replace('hub = ""', f'hub = "{web.url}/hub"').replace("rate_limit = 5", "rate_limit = 0")
        for name in ("energy-observatory.rss.xml", "danube-policy-review.atom.xml"):
            config = config.replace(f'"example/sources/{name}"', f'"{web.url}/{name}"')
        (site / "syndicate.toml").write_text(config, encoding="utf-8")

        first = run_cli(site, "2026-11-28T12:00:00Z")
        assert first.returncode == 0, first.stderr
        assert first.stdout == "" and "unsubscribe secret" not in first.stderr
        # Six valid, distinct subscribers in the example list (one bad row, one duplicate).
        assert sorted(smtp.copies().values()) == [1] * 6
        _, msg = _received(smtp)[0]
        text, html = _bodies(msg)
        assert "From around the web" in html and "via Energy Transition Observatory" in text
        assert msg["List-Id"] == "Weekly digest <weekly.ledger.example.eu>"
        topics = {t for post in web.posts() for t in post.form.get("hub.topic", [])}
        assert "https://ledger.example.eu/feeds/energy.rss" in topics
        energy = (site / "feeds" / "energy.rss").read_text(encoding="utf-8")
        assert f'url="{web.url}/energy-observatory.rss.xml"' in energy  # the source, credited

        second = run_cli(site, "2026-11-28T12:05:00Z")
        assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
        assert sum(smtp.copies().values()) == 6
