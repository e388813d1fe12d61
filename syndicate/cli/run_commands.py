"""``run`` (everything cron should do) and ``serve`` (a local preview server)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from ..errors import LockBusy
from ..lock import RunLock
from ..store import open_store
from . import AppContext, cli, now_option, pass_app

if TYPE_CHECKING:
    from ..runner import RunReport, StageOutcome

__all__ = ["cli"]


class _Log:
    """The ``--log FILE``: every line with a timestamp, appended, whether or not a person watches."""

    def __init__(self, path: Path | None) -> None:
        self.handle: TextIO | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.handle = path.open("a", encoding="utf-8")
            except OSError as exc:
                raise click.UsageError(f"cannot open log file {path}: {exc.strerror}") from exc

    def write(self, text: str) -> None:
        if self.handle is None:
            return
        stamp = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
        for line in text.splitlines():
            self.handle.write(f"{stamp} {line}\n")
        self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


@cli.command(name="run")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="If another run holds the lock, wait this long for it instead of exiting at once.",
)
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append every stage's result, with timestamps, to this file.",
)
@click.option(
    "--skip-invalid", is_flag=True, help="Build without invalid records (warned) instead of failing the build."
)
@click.option("-v", "--verbose", "run_verbose", is_flag=True, help="Print every stage, even when nothing happened.")
@now_option
@pass_app
def run_command(
    app: AppContext, wait: float, log_path: Path | None, skip_invalid: bool, run_verbose: bool, now: datetime | None
) -> None:  # fmt: skip
    """Ingest due sources, build the feeds, ping the hub, and send the digest if it is due.

    Meant for cron: prints nothing unless something went wrong when its output is not a
    terminal. Only one run per site at a time; a second one exits at once (exit 0).
    Exit codes: 0 all well, 1 some stage failed (the others still ran), 2 bad config or usage.

    \b
    Example:
        */5 * * * *  cd /srv/site && syndicate run --log .syndicate/run.log
    """
    verbose = run_verbose or app.verbose
    # Under cron stdout is a file or a pipe to mail: only trouble is worth a message there.
    chatty = (verbose or sys.stdout.isatty()) and not app.quiet
    config = app.config()
    from ..runner import digest_schedule, run_site  # imported per command: start-up stays short

    digest_schedule(config)  # a bad schedule is a config error (exit 2) before anything runs
    moment = now or datetime.now(UTC)
    log = _Log(log_path)
    try:
        try:
            lock = RunLock(config.state_dir, wait=wait)
            lock.acquire()
        except LockBusy as exc:
            log.write(f"run: {exc}")
            if chatty:
                click.echo(str(exc))
            return
        try:
            log.write(f"run: started (site time {moment.astimezone(config.tz):%Y-%m-%d %H:%M %Z})")

            def show(outcome: StageOutcome) -> None:
                _log_stage(log, outcome)
                _echo_stage(outcome, chatty=chatty, verbose=verbose)

            with open_store(config.state_path) as store:
                report = run_site(config, store, now=moment, skip_invalid=skip_invalid, on_stage=show)
        finally:
            lock.release()
        log.write(f"run: finished, exit code {report.exit_code}")
    finally:
        log.close()
    _finish(report)


def _log_stage(log: _Log, outcome: StageOutcome) -> None:
    log.write(f"{outcome.stage}: {outcome.status}: {outcome.message}")
    for detail in outcome.details:
        log.write(f"{outcome.stage}:   {detail}")


def _echo_stage(outcome: StageOutcome, *, chatty: bool, verbose: bool) -> None:
    if outcome.failed:
        click.echo(f"Error: {outcome.line()}", err=True)
        for detail in outcome.details:
            click.echo(f"  {detail}", err=True)
        return
    if verbose:
        click.echo(outcome.line())
        for detail in outcome.details:
            click.echo(f"  {detail}")
    elif chatty and outcome.status != "skipped":
        click.echo(outcome.line())


def _finish(report: RunReport) -> None:
    if report.exit_code:
        # The failures are already printed, one per stage; just set the documented exit code.
        click.get_current_context().exit(report.exit_code)


@cli.command(name="serve")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind; keep the default unless you know why."
)
@pass_app
def serve_command(app: AppContext, port: int, host: str) -> None:
    """Serve the feed folder and a live preview of the next digest, for editors.

    Feed files get their proper content types; the digest preview is rendered on every
    request from the current records and templates. Stop with Ctrl-C.

    \b
    Example:
        syndicate build && syndicate serve --port 8000
    """
    from ..serve import PREVIEW_HTML, PREVIEW_TEXT, make_server

    config = app.config()
    server = make_server(config, host=host, port=port)
    bound_port = server.server_address[1]
    base = f"http://{host}:{bound_port}"
    click.echo(f"Serving {config.feeds.output} at {base}/")
    click.echo(f"Digest preview: {base}{PREVIEW_HTML} (text: {base}{PREVIEW_TEXT})")
    click.echo("Press Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        server.server_close()
