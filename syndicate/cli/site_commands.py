"""Commands for the site's own records and feeds: init, check, build."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ..build import build_site
from ..errors import BuildCheckFailed, RecordError, SyndicateError
from ..lock import RunLock
from ..records import load_records
from ..scaffold import create_site
from ..store import open_store
from . import AppContext, cli, lock_wait_option, now_option, pass_app

__all__ = ["cli"]


def _warn(app: AppContext, warnings: tuple[str, ...] | list[str]) -> None:
    if app.quiet:
        return
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)


def _report_problems(error: RecordError) -> None:
    for problem in error.problems:
        click.echo(problem, err=True)


@cli.command(name="init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@pass_app
def init_command(app: AppContext, directory: Path) -> None:
    """Create a new site in DIRECTORY: syndicate.toml, articles/ with two examples, templates/.

    Existing files are never overwritten.

    \b
    Example:
        syndicate init mysite && cd mysite && syndicate build
    """
    created = create_site(directory)
    if not app.quiet:
        for path in created:
            click.echo(f"created {path}{'/' if path.is_dir() else ''}")
        click.echo(f"Next: edit {directory / 'syndicate.toml'}, then run 'syndicate build' in {directory}")


@cli.command(name="check")
@pass_app
def check_command(app: AppContext) -> None:
    """Validate the config and every record; print every problem found (exit 1 if any).

    \b
    Example:
        syndicate check
    """
    config = app.config()
    records = load_records(config)
    _warn(app, records.warnings)
    for problem in records.problems:
        click.echo(problem, err=True)
    count = len(records.problems)
    if count:
        raise SyndicateError(f"{count} problem{'s' if count != 1 else ''} in {records.records_read} records")
    if not app.quiet:
        click.echo(f"{records.records_read} records, no problems")


@cli.command(name="build")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder [feeds.output].")
@click.option("--full", is_flag=True, help="Ignore every cache; re-read and re-render everything.")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 if any output would change.")
@click.option("--skip-invalid", is_flag=True, help="Leave invalid records out (with a warning) instead of stopping.")
@lock_wait_option
@now_option
@pass_app
def build_command(
    app: AppContext,
    out: Path | None,
    full: bool,
    check_only: bool,
    skip_invalid: bool,
    lock_wait: float,
    now: datetime | None,
) -> None:
    """Write the feeds (one per category and one for all articles) and report what changed.

    Files are written atomically and only when their bytes change. While any record is
    invalid nothing is written, unless --skip-invalid.

    \b
    Example:
        syndicate build
        syndicate build --check     # in CI: fails if the committed feeds are stale
    """
    config = app.config()
    try:
        with RunLock(config.state_dir, wait=lock_wait), open_store(config.state_path) as store:
            moment = now or datetime.now(UTC)  # read once the lock is held
            result = build_site(
                config, store, now=moment, out=out, full=full, check=check_only, skip_invalid=skip_invalid
            )
    except RecordError as exc:
        _report_problems(exc)
        count = len(exc.problems)
        raise SyndicateError(
            f"{count} invalid record{'s' if count != 1 else ''}; nothing written"
            " (fix them, or build with --skip-invalid to leave them out)"
        ) from exc
    _warn(app, result.warnings)
    elapsed = f"{result.elapsed:.2f} s"
    if check_only:
        if result.would_change:
            for path in result.would_change:
                click.echo(f"would change: {path}", err=True)
            count = len(result.would_change)
            raise BuildCheckFailed(f"{count} file{'s' if count != 1 else ''} would change; run 'syndicate build'")
        if not app.quiet:
            click.echo(
                f"{result.records_read} records read, feeds up to date ({len(result.unchanged)} files checked)"
                f" in {elapsed}"
            )
        return
    if not app.quiet:
        click.echo(
            f"{result.records_read} records read, {len(result.written)} files written,"
            f" {len(result.unchanged)} unchanged in {elapsed}"
        )
    # WebSub: tell the hub which feeds changed; a failed ping never fails the build.
    from ..websub import notify_hub  # httpx: loaded only when a hub is pinged

    ping = notify_hub(config, result.changed_feed_urls)
    if ping is not None and not ping.ok:
        click.echo(f"Warning: {ping.summary()}", err=True)
