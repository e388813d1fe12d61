"""``digest`` (preview or send the email digest) and ``unsubscribe-token``."""

from __future__ import annotations

import re
import sys
import webbrowser
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from ..errors import DigestError
from ..fsutil import atomic_write_bytes
from ..lock import RunLock
from ..records import parse_moment
from ..store import open_store
from . import AppContext, cli, now_option, pass_app

__all__ = ["cli"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhw])\s*$")


class _SinceType(click.ParamType):
    """``7d``, ``36h``, ``2w`` (before now) or an ISO 8601 date/time (site timezone when naive)."""

    name = "WHEN"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        if isinstance(value, datetime | timedelta):
            return value
        text = str(value)
        match = _DURATION.match(text)
        if match:
            amount, unit = float(match.group(1)), match.group(2)
            unit_name = {"d": "days", "h": "hours", "w": "weeks"}[unit]
            return timedelta(**{unit_name: amount})
        return text


def _resolve_since(value: object, now: datetime, tz: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return now - value
    moment = parse_moment(str(value), tz)
    if moment is None:
        raise click.BadParameter(
            f"{value!r} is neither a duration (7d, 36h, 2w) nor an ISO 8601 date", param_hint="'--since'"
        )
    return moment


@cli.command(name="digest")
@click.option("--since", type=_SinceType(), help="One-off window: articles since 7d, 36h, 2w or a date (2026-11-01).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML part here.")
@click.option(
    "--text", "text_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the plain-text part here."
)
@click.option(
    "--eml",
    "eml_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a complete message (opens in a mail client).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the HTML in a web browser.")
@click.option("--send", is_flag=True, help="Send to every subscriber (exactly once; resumes an unfinished digest).")
@click.option("--to", "to_address", metavar="ADDRESS", help="Send one test copy to ADDRESS; nothing is recorded.")
@click.option("--dry-run", is_flag=True, help="With --send: build every message, but neither send nor record.")
@click.option(
    "--retry-unknown",
    is_flag=True,
    help="Resend the latest digest to recipients whose delivery was ambiguous (connection lost after DATA).",
)
@now_option
@pass_app
def digest_command(
    app: AppContext,
    since: object,
    html_path: Path | None,
    text_path: Path | None,
    eml_path: Path | None,
    open_browser: bool,
    send: bool,
    to_address: str | None,
    dry_run: bool,
    retry_unknown: bool,
    now: datetime | None,
) -> None:
    """Preview the next email digest, or send it to the subscribers.

    Without --send nothing is sent and nothing is recorded: the digest holds what was
    published since the last digest sent. With --send each subscriber gets it exactly
    once; if a send was interrupted, running it again finishes that same digest.

    \b
    Examples:
        syndicate digest --html /tmp/digest.html --open
        syndicate digest --eml /tmp/digest.eml --to editor@example.com
        syndicate digest --send
    """
    from .. import digest as digest_mod
    from ..message import build_message

    config = app.config()
    moment = now or datetime.now(UTC)
    since_at = _resolve_since(since, moment, config.tz)
    if (send or retry_unknown) and to_address:
        raise click.UsageError("--to sends a test copy; it cannot be combined with --send or --retry-unknown")
    if dry_run and not (send or retry_unknown):
        raise click.UsageError("--dry-run goes with --send")
    outputs = html_path or text_path or eml_path or open_browser or to_address
    if outputs:
        with open_store(config.state_path) as store:
            selection, rendered = digest_mod.preview(config, store, now=moment, since=since_at)
        secret = digest_mod.unsubscribe_secret(config)
        recipient = to_address or digest_mod.PREVIEW_ADDRESS
        html, text, _ = digest_mod.personalise(config, rendered, recipient, secret)
        if not app.quiet:
            extra = f", {rendered.left_out} more linked" if rendered.left_out else ""
            click.echo(f"{rendered.subject} ({len(rendered.item_keys)} items{extra}; HTML {len(html.encode())} bytes)")
        message = None
        if eml_path or to_address:
            message = build_message(
                config,
                subject=rendered.subject,
                html=html,
                text=text,
                to_email=recipient,
                date=moment,
                content_hash=rendered.content_hash,
                secret=secret,
            )
        for path, data in (
            (html_path, html.encode("utf-8")),
            (text_path, text.encode("utf-8")),
            (eml_path, bytes(message) if message is not None else b""),
        ):
            if path is not None:
                atomic_write_bytes(path, data)
                if not app.quiet:
                    click.echo(f"Wrote {path}")
        if open_browser:
            target = html_path
            if target is None:
                target = config.state_dir / "digest-preview.html"
                atomic_write_bytes(target, html.encode("utf-8"))
            webbrowser.open(target.absolute().as_uri())
        if to_address and message is not None:
            from ..mailer import send_test_copy

            send_test_copy(config.smtp, message)
            if not app.quiet:
                if config.smtp.outbox is not None:
                    click.echo(f"Wrote a test copy for {to_address} to {config.smtp.outbox} (not recorded)")
                else:
                    click.echo(f"Sent a test copy to {to_address} (not recorded)")
        del selection
    if not (send or retry_unknown):
        if not outputs and not app.quiet:
            click.echo("Nothing sent. Use --html/--text/--eml/--open to preview, --send to send.", err=True)
        return

    with RunLock(config.state_dir, wait=0) as _lock, open_store(config.state_path) as store:
        progress = _ProgressBar() if app.interactive else None
        try:
            outcome = digest_mod.send_digest(
                config,
                store,
                now=moment,
                since=since_at,
                retry_unknown=retry_unknown,
                dry_run=dry_run,
                progress=progress.update if progress else None,
            )
        finally:
            if progress is not None:
                progress.close()
    if not app.quiet:
        for warning in outcome.warnings:
            click.echo(f"Warning: {warning}", err=True)
    for failure in outcome.failures:
        click.echo(f"  {failure}", err=True)
    if outcome.ok:
        if not app.quiet:
            click.echo(outcome.message)
        return
    raise DigestError(outcome.message + (" (--retry-unknown resends the ambiguous ones)" if outcome.unknown else ""))


class _ProgressBar:
    """A Click progress bar on stderr fed with (done, total)."""

    def __init__(self) -> None:
        self.bar: object | None = None
        self.done = 0

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="Sending", file=sys.stderr)
            self.bar.__enter__()  # type: ignore[attr-defined]
        self.bar.update(done - self.done)  # type: ignore[attr-defined]
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)  # type: ignore[attr-defined]


@cli.command(name="unsubscribe-token")
@click.argument("email")
@click.option("--verify", "token", metavar="TOKEN", help="Check TOKEN instead of printing one (exit 1 if invalid).")
@pass_app
def unsubscribe_token_command(app: AppContext, email: str, token: str | None) -> None:
    """Print the unsubscribe token of EMAIL, or check one with --verify.

    The token is an HMAC of the address with the secret from the environment variable
    named by digest.unsubscribe_secret_env, so the site's unsubscribe endpoint can check
    that a link was really sent to that address.

    \b
    Examples:
        syndicate unsubscribe-token reader@example.com
        syndicate unsubscribe-token reader@example.com --verify 3q2-7w...
    """
    from ..digest import unsubscribe_secret
    from ..tokens import unsubscribe_token, verify_unsubscribe_token

    secret = unsubscribe_secret(app.config())
    if token is None:
        click.echo(unsubscribe_token(secret, email))
        return
    if verify_unsubscribe_token(secret, email, token):
        if not app.quiet:
            click.echo(f"valid token for {email}")
        return
    click.echo(f"Error: invalid token for {email}", err=True)
    click.get_current_context().exit(1)
