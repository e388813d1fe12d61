"""The command line: a thin Click layer over the library.

This package is the only place that imports click, prints, or exits. Core errors
(``SyndicateError``) are turned into one ``Error: ...`` line and an exit code here, once.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from ..config import CONFIG_FILENAME, Config, load_config
from ..errors import SyndicateError
from ..records import parse_moment

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@dataclass
class AppContext:
    """What every command gets: where the config is and how chatty to be."""

    config_path: Path
    verbose: bool = False
    quiet: bool = False
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def interactive(self) -> bool:
        """True when a person is watching: progress bars and chatter are welcome."""
        return sys.stderr.isatty() and not self.quiet


class SyndicateGroup(click.Group):
    """Converts library errors into Click errors in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SyndicateError as exc:
            app = ctx.obj
            if isinstance(app, AppContext) and app.verbose:
                raise
            error = click.ClickException(str(exc))
            error.exit_code = exc.exit_code
            raise error from exc


def configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("syndicate")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@click.group(cls=SyndicateGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=CONFIG_FILENAME,
    envvar="SYNDICATE_CONFIG",
    show_default=True,
    show_envvar=True,
    help="Site configuration file.",
)
@click.option("-v", "--verbose", is_flag=True, help="Say more; show tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@click.version_option(package_name="syndicate")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, verbose: bool, quiet: bool) -> None:
    """Turn a site's article records into feeds, an email digest and mixed-in outside sources.

    \b
    Example:
        syndicate init mysite && cd mysite && syndicate build
    """
    configure_logging(verbose, quiet)
    ctx.obj = AppContext(config_path=Path(os.fspath(config_path)), verbose=verbose, quiet=quiet)


pass_app = click.make_pass_decorator(AppContext)


class NowType(click.ParamType):
    """An ISO 8601 time (UTC when it has no offset) for the hidden ``--now`` testing aid."""

    name = "TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        moment = parse_moment(str(value), ZoneInfo("UTC"))
        if moment is None:
            self.fail(f"not an ISO 8601 time: {value!r}", param, ctx)
        return moment


lock_wait_option = click.option(
    "--wait",
    "lock_wait",
    type=click.FloatRange(min=0),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="If a run or a digest send holds the site's lock, wait this long for it before giving up.",
)
"""Commands that record first-seen times take the run lock: a time recorded during a digest
send could otherwise fall inside a window that send has already closed."""


now_option = click.option(
    "--now", type=NowType(), envvar="SYNDICATE_NOW", hidden=True, help="Testing aid: pretend it is this time."
)

# Command modules register themselves on ``cli``; imported for that side effect.
from . import (  # noqa: E402,F401
    digest_commands,
    related_commands,
    run_commands,
    site_commands,
    source_commands,
)
