"""Commands for outside sources: ingest, sources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from ..lock import RunLock
from ..store import open_store
from . import AppContext, cli, lock_wait_option, now_option, pass_app

if TYPE_CHECKING:  # the HTTP client loads only for the commands that fetch
    from ..ingest import SourceResult, SourceStatus

__all__ = ["cli"]


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


@cli.command(name="ingest")
@click.option("--source", "only", metavar="NAME", help="Fetch only this source, now, even if it is not due.")
@lock_wait_option
@now_option
@pass_app
def ingest_command(app: AppContext, only: str | None, lock_wait: float, now: datetime | None) -> None:
    """Fetch every due outside source and store its items.

    Sources are fetched concurrently; one failing source is reported (on stderr)
    and retried later with a growing delay, but never stops the others. Exit
    status 1 when any source failed (the rest were still ingested), like 'run'.

    \b
    Example:
        syndicate ingest
        syndicate ingest --source "Euractiv"
    """
    config = app.config()

    def show(result: SourceResult) -> None:
        line = f"{result.name}: {result.status} {result.message}"
        if result.failed or result.warnings or result.moved_to:
            click.echo(("error: " if result.failed else "warning: ") + line, err=True)
        elif not app.quiet:
            click.echo(line)

    with RunLock(config.state_dir, wait=lock_wait), open_store(config.state_path) as store:
        from ..ingest import ingest_due

        moment = now or datetime.now(UTC)  # read once the lock is held
        report = ingest_due(config, store, now=moment, only=only, progress=show)
    if not app.quiet:
        failed = len(report.failed)
        click.echo(
            f"{len(report.results)} sources fetched, {len(report.not_due)} not due, {failed} failed: "
            f"{report.new} new items, {report.changed} updated ({report.seconds:.1f}s)"
        )
    if report.failed:
        # Each failure is already on stderr; cron and scripts see it in the status too.
        click.get_current_context().exit(1)


@cli.command(name="sources")
@now_option
@pass_app
def sources_command(app: AppContext, now: datetime | None) -> None:
    """Show every outside source: state, last fetch and result, items held, failures, next attempt.

    Times are UTC. A source that moved permanently keeps working at its new URL;
    update its ``url`` in the config.

    \b
    Example:
        syndicate sources
    """
    config = app.config()
    moment = now or datetime.now(UTC)
    with open_store(config.state_path) as store:
        from ..ingest import source_statuses

        rows = source_statuses(config, store, now=moment)
    if not rows:
        click.echo("No sources configured (add [[sources]] tables to the config).")
        return
    click.echo(render_sources_table(rows))


def render_sources_table(rows: list[SourceStatus]) -> str:
    """The ``sources`` table as text, followed by one note per source that needs attention."""
    header = ("NAME", "STATE", "LAST FETCH", "RESULT", "ITEMS", "FAILS", "NEXT ATTEMPT")
    table = [header]
    notes = []
    for row in rows:
        result = row.last_status or "-"
        if row.state == "disabled":
            next_attempt = "never (disabled)"
        elif row.due:
            next_attempt = "due now"
        else:
            next_attempt = _when(row.next_attempt)
        table.append(
            (row.name, row.state, _when(row.last_fetch), result, str(row.items), str(row.failures), next_attempt)
        )
        if row.last_error:
            notes.append(f"{row.name}: {row.last_error}")
        if row.url != row.config_url:
            notes.append(f"{row.name}: moved permanently to {row.url}; update its url in the config")
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines)
