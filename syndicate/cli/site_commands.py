"""Commands for the site's own records and feeds: init, check, build."""

from __future__ import annotations

from . import cli

__all__ = ["cli"]
