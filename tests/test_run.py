"""``syndicate run`` end to end: real processes, a real hub and source server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from run_support import SOURCE_RSS, article_md, loopback_server, write_site

from syndicate.config import load_config
from syndicate.runner import FAILED, NOTHING, OK, SKIPPED, StageOutcome, last_digest_slot, run_site
from syndicate.store import open_store

SYNDICATE = str(Path(sys.executable).parent / "syndicate")
NOW = "2026-11-28T12:00:00Z"


def run_cli(site: Path, now: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYNDICATE, "run", *args], cwd=site, env=_env(now), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def start_cli(site: Path, now: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([SYNDICATE, "run", *args], cwd=site, env=_env(now), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _env(now: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env["SYNDICATE_NOW"] = now
    env["SYNDICATE_UNSUBSCRIBE_SECRET"] = "test-secret"
    return env


def test_run_builds_fetches_and_pings_then_a_second_run_is_silent(tmp_path: Path) -> None:
    with loopback_server() as server:
        server.files["/wire.xml"] = (SOURCE_RSS, "application/rss+xml")
        site = write_site(tmp_path / "site", source_url=server.url + "/wire.xml", hub=server.url + "/hub", schedule=())
        first = run_cli(site, NOW, "--log", "run.log")
        assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
        assert "Wire story one" in (site / "feeds" / "energy.rss").read_text()
        pinged = sorted(topic for p in server.posts() for topic in p.form["hub.topic"])
        assert "https://ledger.example.eu/feeds/energy.atom" in pinged
        assert "https://ledger.example.eu/feeds/all.rss" in pinged
        assert len(pinged) == len(set(pinged)) == 9  # all, energy, economy x rss, atom, json
        mtimes = {p: p.stat().st_mtime_ns for p in (site / "feeds").iterdir()}
        requests_before = len(server.requests)

        second = run_cli(site, "2026-11-28T12:05:00Z", "--log", "run.log")
        assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
        assert len(server.requests) == requests_before  # source not due, no feed changed: no ping
        assert {p: p.stat().st_mtime_ns for p in (site / "feeds").iterdir()} == mtimes

    log = (site / "run.log").read_text().splitlines()
    assert any(" build: ok: 4 records read, 12 file(s) written, 0 unchanged in " in line for line in log)
    assert any(" build: nothing: 4 records read, 0 file(s) written, 12 unchanged in " in line for line in log)
    assert any(" ingest: ok: 1 source(s) fetched, 1 new and 0 changed item(s)" in line for line in log)
    assert any(" websub: ok: hub " in line and "notified of 9 changed feed(s)" in line for line in log)
    assert any(" ingest: nothing: no source due (1 waiting)" in line for line in log)
    assert sum(" run: finished, exit code 0" in line for line in log) == 2
    # Every line starts with an ISO 8601 timestamp.
    assert all(datetime.fromisoformat(line.split(" ", 1)[0]) for line in log)


def test_run_verbose_prints_every_stage(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", schedule=())
    result = run_cli(site, NOW, "--verbose")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ingest: no sources configured"
    assert lines[1].startswith("build: 4 records read, 12 file(s) written, 0 unchanged in ")
    assert lines[2:] == ["websub: no hub configured", "digest: no digest schedule configured"]


def test_two_runs_started_at_once_do_the_work_once(tmp_path: Path) -> None:
    with loopback_server() as server:
        server.files["/wire.xml"] = (SOURCE_RSS, "application/rss+xml")
        server.get_delay = 1.5  # the first run holds the lock while the second starts
        site = write_site(tmp_path / "site", source_url=server.url + "/wire.xml", hub=server.url + "/hub", schedule=())
        procs = [start_cli(site, NOW, "--verbose") for _ in range(2)]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0]
        fetches = [r for r in server.requests if r.method == "GET"]
        pings = [topic for p in server.posts() for topic in p.form["hub.topic"]]
    assert len(fetches) == 1
    assert len(pings) == len(set(pings)) == 9
    notices = [out for out, _ in outputs if "another syndicate run is in progress" in out]
    assert len(notices) == 1
    assert notices[0].strip().count("\n") == 0  # one line


def test_run_waits_for_the_lock_with_wait(tmp_path: Path) -> None:
    with loopback_server() as server:
        server.files["/wire.xml"] = (SOURCE_RSS, "application/rss+xml")
        server.get_delay = 1.0
        site = write_site(tmp_path / "site", source_url=server.url + "/wire.xml", schedule=())
        first = start_cli(site, NOW)
        # Wait until the first run holds the lock (it is fetching the source).
        for _ in range(200):
            if server.requests:
                break
            subprocess.run(["sleep", "0.02"], check=True)
        second = run_cli(site, NOW, "--wait", "30", "--verbose")
        first.communicate(timeout=60)
    assert second.returncode == 0
    assert "another syndicate run" not in second.stdout
    assert "build: 4 records read, 0 file(s) written, 12 unchanged" in second.stdout


def test_future_dated_record_appears_on_the_first_run_after_its_time(tmp_path: Path) -> None:
    extra = {"later.md": article_md("Embargoed interview", "2026-11-28T15:00:00+01:00", "Economy")}
    with loopback_server() as server:
        site = write_site(tmp_path / "site", hub=server.url + "/hub", schedule=(), extra_records=extra)
        assert run_cli(site, NOW).returncode == 0
        assert "Embargoed interview" not in (site / "feeds" / "economy.atom").read_text()
        before = len(server.posts())
        assert run_cli(site, "2026-11-28T13:59:00Z").returncode == 0
        assert "Embargoed interview" not in (site / "feeds" / "economy.atom").read_text()
        assert len(server.posts()) == before
        assert run_cli(site, "2026-11-28T14:00:00Z").returncode == 0
        assert "Embargoed interview" in (site / "feeds" / "economy.atom").read_text()
        topics = {t for p in server.posts()[before:] for t in p.form["hub.topic"]}
    assert topics == {
        f"https://ledger.example.eu/feeds/{s}.{x}" for s in ("all", "economy") for x in ("rss", "atom", "json")
    }


def test_failing_source_is_reported_and_the_rest_still_runs(tmp_path: Path) -> None:
    with loopback_server() as server:
        site = write_site(tmp_path / "site", source_url=server.url + "/missing.xml", schedule=())
        result = run_cli(site, NOW)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "Error: ingest: 1 of 1 source(s) failed (Wire); 0 new and 0 changed item(s)\n  Wire: "
    )
    assert "404" in result.stderr
    assert (site / "feeds" / "all.atom").exists()


def test_bad_record_fails_the_build_but_not_the_run(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", schedule=(), extra_records={"bad.md": "---\ntitle: No date\n---\nx\n"})
    result = run_cli(site, NOW)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "Error: build: 1 invalid record(s); nothing written, the feeds on disk are unchanged"
        " (fix them, or run with --skip-invalid)"
    )
    assert "articles/bad.md" in result.stderr
    assert not (site / "feeds").exists()
    skipping = run_cli(site, NOW, "--skip-invalid")
    assert skipping.returncode == 0, skipping.stderr
    assert (site / "feeds" / "all.atom").exists()


def test_hub_failure_is_reported_and_retried_next_run(tmp_path: Path) -> None:
    with loopback_server() as server:
        server.post_status = 503
        site = write_site(tmp_path / "site", hub=server.url + "/hub", schedule=())
        failed = run_cli(site, NOW)
        assert failed.returncode == 1
        assert failed.stderr.startswith(f"Error: websub: hub {server.url}/hub: ping failed for ")
        assert "HTTP 503 Service Unavailable (and 8 more); will retry on the next run" in failed.stderr
        assert (site / "feeds" / "all.atom").exists()  # the build itself stands
        server.post_status = 204
        retried = run_cli(site, "2026-11-28T12:05:00Z")
        assert (retried.returncode, retried.stderr) == (0, "")
        assert len(server.posts()) == 18
        quiet = run_cli(site, "2026-11-28T12:10:00Z")
        assert (quiet.returncode, quiet.stderr) == (0, "")
        assert len(server.posts()) == 18


def test_bad_schedule_is_a_config_error_with_exit_2(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", schedule=("daily at 7am",))
    result = run_cli(site, NOW)
    assert result.returncode == 2
    assert result.stderr == (
        f"Error: {site / 'syndicate.toml'}: digest.schedule[0]: cannot read 'daily at 7am'"
        " (expected 'daily at HH:MM' or 'weekly on DAY at HH:MM')\n"
    )
    assert not (site / "feeds").exists()


def test_unknown_option_is_a_usage_error_with_exit_2(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", schedule=())
    result = run_cli(site, NOW, "--wiat", "3")
    assert result.returncode == 2
    assert "Error: No such option '--wiat'. Did you mean '--wait'?" in result.stderr


# -- the digest stage's schedule, with the sender injected -------------------------------------


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "sends"),
    [
        # Daily at 07:00 Brussels (06:00 UTC in winter). Runs every few minutes, one missed.
        (["2026-11-28T05:55:00", "2026-11-28T06:05:00", "2026-11-28T06:10:00", "2026-11-29T06:00:00"],
         ["2026-11-28T06:00:00", "2026-11-29T06:00:00"]),
    ],
)  # fmt: skip
def test_digest_stage_sends_once_per_due_slot(tmp_path: Path, now: list[str], sends: list[str]) -> None:
    site = write_site(tmp_path / "site")
    config = load_config(site / "syndicate.toml")
    sent: list[datetime] = []

    def sender(config: object, store: object, at: datetime, slot: datetime) -> StageOutcome:
        sent.append(slot)
        return StageOutcome("digest", OK, "sent")

    with open_store(config.state_path) as store:
        # The first run ever, before 07:00: yesterday's slot counts as due once.
        report = run_site(config, store, now=_at(now[0]), send_digest=sender)
        assert report.stage("digest") == StageOutcome("digest", OK, "sent")
        sent.clear()
        statuses = []
        for moment in now[1:]:
            statuses.append(run_site(config, store, now=_at(moment), send_digest=sender).stage("digest"))
        assert last_digest_slot(store) == _at(sends[-1])
    assert sent == [_at(s) for s in sends]
    assert statuses[1] is not None and statuses[1].status == NOTHING
    assert statuses[1].message == "not due; next at 2026-11-29 07:00 CET"


def test_digest_stage_failure_keeps_the_slot_due(tmp_path: Path) -> None:
    from syndicate.errors import SendError

    site = write_site(tmp_path / "site")
    config = load_config(site / "syndicate.toml")
    attempts: list[datetime] = []

    def broken(config: object, store: object, at: datetime, slot: datetime) -> StageOutcome:
        attempts.append(at)
        if len(attempts) == 1:
            raise SendError("cannot connect to SMTP server 127.0.0.1:1: Connection refused")
        return StageOutcome("digest", OK, "sent to 3 subscribers")

    start = _at("2026-11-28T06:01:00")
    with open_store(config.state_path) as store:
        first = run_site(config, store, now=start, send_digest=broken)
        second = run_site(config, store, now=start + timedelta(minutes=5), send_digest=broken)
        third = run_site(config, store, now=start + timedelta(minutes=10), send_digest=broken)
    assert first.stage("digest") == StageOutcome(
        "digest", FAILED, "cannot connect to SMTP server 127.0.0.1:1: Connection refused (will resume on the next run)"
    )
    assert first.exit_code == 1
    assert second.stage("digest") == StageOutcome("digest", OK, "sent to 3 subscribers")
    assert third.stage("digest") is not None and third.stage("digest").status == NOTHING  # type: ignore[union-attr]
    assert len(attempts) == 2
    assert first.stage("build").status == OK  # type: ignore[union-attr]
    assert first.stage("ingest").status == SKIPPED  # type: ignore[union-attr]
