"""The init, check and build commands, through Click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import cli

NOW = "2026-11-28T12:00:00Z"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def site(tmp_path: Path, runner: CliRunner) -> Path:
    result = runner.invoke(cli, ["init", str(tmp_path / "site")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp_path / "site"


def run(runner: CliRunner, site: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, ["-c", str(site / "syndicate.toml"), *args], catch_exceptions=False)


def test_cli_init_creates_a_site_that_builds(site: Path, runner: CliRunner) -> None:
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*")) == [
        "articles",
        "articles/2026-01-12-welcome.md",
        "articles/2026-01-14-how-records-work.md",
        "syndicate.toml",
        "templates",
    ]
    result = run(runner, site, "build", "--now", NOW)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith("2 records read, 12 files written, 0 unchanged in ")
    assert (site / "feeds" / "guides.atom").exists()
    again = run(runner, site, "build", "--now", NOW)
    assert again.stdout.startswith("2 records read, 0 files written, 12 unchanged in ")


def test_cli_init_refuses_to_overwrite(site: Path, runner: CliRunner) -> None:
    config = site / "syndicate.toml"
    config.write_text("# mine\n", encoding="utf-8")
    (site / "articles" / "2026-01-12-welcome.md").unlink()
    result = runner.invoke(cli, ["init", str(site)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {site / 'articles' / '2026-01-14-how-records-work.md'}, {config}: already exists;"
        " init never overwrites files (choose an empty folder)\n"
    )
    assert config.read_text(encoding="utf-8") == "# mine\n"
    assert not (site / "articles" / "2026-01-12-welcome.md").exists()


def test_cli_check_prints_every_problem(site: Path, runner: CliRunner) -> None:
    ok = run(runner, site, "check")
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, "2 records, no problems\n", "")
    (site / "articles" / "bad.md").write_text("---\ntitle: Bad\ndate: 31/01/2026\n---\n", encoding="utf-8")
    (site / "articles" / "more.jsonl").write_text('{"date": "2026-01-01"}\n{"title": "x", "date": "2026-01-02"}\n')
    (site / "articles" / "notes.txt").write_text("todo", encoding="utf-8")
    result = run(runner, site, "check")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Warning: articles/notes.txt: unknown file type, skipped (records are .md, .json, .jsonl, .yaml, .yml)\n"
        "articles/bad.md:3: date: not a valid ISO 8601 date: '31/01/2026'\n"
        "articles/more.jsonl:1: title: missing (every record needs one)\n"
        "Error: 2 problems in 5 records\n"
    )


def test_cli_build_refuses_invalid_records_unless_skipped(site: Path, runner: CliRunner) -> None:
    assert run(runner, site, "build", "--now", NOW).exit_code == 0
    before = (site / "feeds" / "all.rss").read_bytes()
    (site / "articles" / "bad.md").write_text("---\ntitle: [x\n---\n", encoding="utf-8")
    result = run(runner, site, "build", "--now", NOW)
    assert result.exit_code == 1
    assert result.stderr == (
        "articles/bad.md:3: front matter: invalid YAML:"
        " did not find expected ',' or ']' (while parsing a flow sequence)\n"
        "Error: 1 invalid record; nothing written (fix them, or build with --skip-invalid to leave them out)\n"
    )
    assert (site / "feeds" / "all.rss").read_bytes() == before
    skipped = run(runner, site, "build", "--now", NOW, "--skip-invalid")
    assert skipped.exit_code == 0
    assert skipped.stderr.startswith("Warning: skipped invalid record: articles/bad.md:3: front matter: invalid YAML")
    assert skipped.stdout.startswith("3 records read, 0 files written, 12 unchanged in ")


def test_cli_build_check_exit_status(site: Path, runner: CliRunner) -> None:
    stale = run(runner, site, "build", "--check", "--now", NOW)
    assert stale.exit_code == 1
    assert not (site / "feeds").exists()
    assert stale.stderr.endswith("Error: 12 files would change; run 'syndicate build'\n")
    assert f"would change: {site / 'feeds' / 'all.rss'}\n" in stale.stderr
    run(runner, site, "build", "--now", NOW)
    fresh = run(runner, site, "build", "--check", "--now", NOW)
    assert (fresh.exit_code, fresh.stderr) == (0, "")
    assert fresh.stdout.startswith("2 records read, feeds up to date (12 files checked) in ")


def test_cli_build_out_option_and_quiet(site: Path, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "public"
    result = runner.invoke(cli, ["-q", "-c", str(site / "syndicate.toml"), "build", "--out", str(out), "--now", NOW])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert (out / "index.opml").exists()


def test_cli_build_missing_config(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["-c", str(tmp_path / "nope.toml"), "build"])
    assert result.exit_code == 2
    assert (
        result.stderr == f"Error: {tmp_path / 'nope.toml'}: config file not found (create one with 'syndicate init')\n"
    )


def test_cli_build_bad_now_is_a_usage_error(site: Path, runner: CliRunner) -> None:
    result = run(runner, site, "build", "--now", "tomorrow")
    assert result.exit_code == 2
    assert "not an ISO 8601 time: 'tomorrow'" in result.stderr


def test_cli_site_commands_have_help(runner: CliRunner) -> None:
    for name in ("init", "check", "build"):
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Example:" in result.stdout


def test_check_reports_an_unreadable_digest_schedule(tmp_path: Path) -> None:
    from run_support import write_site

    site = write_site(tmp_path / "site", schedule=("daily at 25:00",))
    result = CliRunner().invoke(cli, ["-c", str(site / "syndicate.toml"), "check"])
    assert result.exit_code == 2
    assert "digest.schedule[0]" in result.output and "25:00" in result.output
