"""Text and date helpers shared by every feed writer (pure, no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime

# XML 1.0 forbids C0 controls except tab/LF/CR, lone surrogates and U+FFFE/U+FFFF; lxml raises on
# them and a single one makes a whole feed unreadable. C1 controls and the U+FDD0..U+FDEF
# non-characters are allowed but "discouraged" (XML 1.0 section 2.2); they only ever arrive as
# mis-decoded word-processor paste, so they go too.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def clean_text(value: str | None) -> str:
    """Return ``value`` without the characters XML 1.0 forbids or discourages ("" for None)."""
    if not value:
        return ""
    return _XML_ILLEGAL.sub("", value)


def rfc3339(moment: datetime) -> str:
    """``2025-11-05T09:30:00Z``: UTC, whole seconds (newsboat misreads fractional seconds with an offset)."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc822(moment: datetime) -> str:
    """``Wed, 05 Nov 2025 09:30:00 GMT``: English names whatever the locale, correct weekday."""
    return format_datetime(_utc(moment).replace(tzinfo=UTC), usegmt=True)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} (article dates must be timezone-aware)")
    return moment.astimezone(UTC).replace(microsecond=0)
