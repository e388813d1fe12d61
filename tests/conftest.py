"""Shared pytest options and fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite golden files under tests/golden/ from the current output instead of comparing.",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def now() -> datetime:
    """A fixed, timezone-aware 'now' so no test depends on the wall clock."""
    return NOW


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own SYNDICATE_* environment must never leak into a test.
    for name in ("SYNDICATE_CONFIG", "SYNDICATE_NOW", "SYNDICATE_SMTP_PASSWORD", "SYNDICATE_UNSUBSCRIBE_SECRET"):
        monkeypatch.delenv(name, raising=False)
