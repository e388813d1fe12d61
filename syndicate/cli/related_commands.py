"""Commands registered on the ``syndicate`` group (see the package docstring)."""

from __future__ import annotations

from . import cli

__all__ = ["cli"]
