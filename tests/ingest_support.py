"""Helpers shared by the ingest tests: configs pointing at a loopback server, feed documents."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from syndicate.config import Config, parse_config

# Short limits so the hostile cases finish in about a second each.
FAST_INGEST = {"workers": 4, "connect_timeout": 1.0, "read_timeout": 1.0, "deadline": 2.0, "max_bytes": 1_000_000}


def make_config(tmp_path: Path, sources: list[dict[str, Any]], **ingest: Any) -> Config:
    raw: dict[str, Any] = {
        "site": {"title": "Test Site", "url": "https://news.example.eu/"},
        "sources": sources,
        "ingest": {**FAST_INGEST, **ingest},
        "state_dir": str(tmp_path / "state"),
    }
    return parse_config(raw, tmp_path / "syndicate.toml")


def rss(items: list[dict[str, Any]], *, title: str = "Outside", link: str = "https://outside.example.com/") -> bytes:
    """An RSS 2.0 document; each item's values are inserted as given (already-escaped XML is allowed)."""
    parts = []
    for item in items:
        fields = []
        for key, value in item.items():
            if key == "date":
                fields.append(f"<pubDate>{format_datetime(value) if isinstance(value, datetime) else value}</pubDate>")
            elif key == "html":
                fields.append(f"<description>{escape(value)}</description>")
            elif key == "raw":
                fields.append(value)
            else:
                fields.append(f"<{key}>{value}</{key}>")
        parts.append("<item>" + "".join(fields) + "</item>")
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{title}</title>'
        f"<link>{link}</link><description>d</description>{''.join(parts)}</channel></rss>"
    ).encode()
