"""Publishing: drafts never, future-dated records once their time has passed, ids pinned for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicate.config import load_config
from syndicate.errors import RecordError
from syndicate.publish import load_published
from syndicate.store import open_store

CONFIG = """\
[site]
title = "Test Site"
url = "{url}"
timezone = "UTC"

[records]
paths = ["articles"]
permalink = "{permalink}"
"""

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def write_site(
    root: Path, files: dict[str, str], *, url: str = "https://a.example/", permalink: str = "/{slug}/"
) -> None:
    (root / "syndicate.toml").write_text(CONFIG.format(url=url, permalink=permalink), encoding="utf-8")
    (root / "articles").mkdir(exist_ok=True)
    for rel, text in files.items():
        (root / "articles" / rel).write_text(text, encoding="utf-8")


def record(title: str, date: str, extra: str = "") -> str:
    return f"---\ntitle: {title}\ndate: {date}\n{extra}---\nBody of {title}.\n"


def published(root: Path, now: datetime = NOW, **kwargs: bool):  # type: ignore[no-untyped-def]
    config = load_config(root / "syndicate.toml")
    with open_store(config.state_path) as store:
        return load_published(config, store, now=now, **kwargs), store.pins()


def test_publish_drafts_never_future_once_due(tmp_path: Path) -> None:
    write_site(
        tmp_path,
        {
            "old.md": record("Old", "2026-05-01T08:00:00Z"),
            "draft.md": record("Draft", "2026-05-02T08:00:00Z", "draft: true\n"),
            "soon.md": record("Soon", "2026-06-01T13:00:00Z"),
        },
    )
    before, pins = published(tmp_path)
    assert [a.title for a in before.articles] == ["Old"]
    assert set(pins) == {"file:articles/old.md"}
    assert pins["file:articles/old.md"].first_seen == NOW
    later = NOW + timedelta(hours=2)
    after, pins = published(tmp_path, later)
    assert [a.title for a in after.articles] == ["Soon", "Old"]  # newest first
    assert pins["file:articles/soon.md"].first_seen == later
    assert pins["file:articles/old.md"].first_seen == NOW  # first publication is kept


def test_publish_pinned_id_survives_slug_permalink_and_base_url_changes(tmp_path: Path) -> None:
    write_site(tmp_path, {"story.md": record("Story", "2026-05-01T08:00:00Z", "id: story-1\n")})
    first, _ = published(tmp_path)
    original = first.articles[0].feed_id
    assert original == "tag:a.example,2026-05-01:story-1"
    assert first.warnings == ()
    # Move the site and re-date the record: the derived id would change, the pinned one is kept.
    write_site(
        tmp_path,
        {"story.md": record("Story", "2026-05-03T08:00:00Z", "id: story-1\n")},
        url="https://b.example/news/",
        permalink="/{year}/{slug}/",
    )
    again, _ = published(tmp_path)
    article = again.articles[0]
    assert article.feed_id == original
    assert article.url == "https://b.example/news/2026/story/"
    assert again.warnings == (
        "articles/story.md:1: kept feed id 'tag:a.example,2026-05-01:story-1' (the record now gives"
        " 'tag:b.example,2026-05-03:story-1': its id, slug, date, URL pattern or base URL changed;"
        " readers keep seeing the item as before)",
    )


def test_publish_slug_change_keeps_id_for_the_same_file(tmp_path: Path) -> None:
    write_site(tmp_path, {"a.md": record("A", "2026-05-01T08:00:00Z")})
    original = published(tmp_path)[0].articles[0].feed_id
    write_site(tmp_path, {"a.md": record("A", "2026-05-01T08:00:00Z", "slug: renamed\n")})
    again = published(tmp_path)[0]
    assert again.articles[0].feed_id == original
    assert again.articles[0].url == "https://a.example/renamed/"
    assert len(again.warnings) == 1 and "kept feed id" in again.warnings[0]


def test_publish_renamed_file_keeps_its_pin(tmp_path: Path) -> None:
    write_site(tmp_path, {"a.md": record("A", "2026-05-01T08:00:00Z", "slug: a\n")})
    published(tmp_path)
    (tmp_path / "articles" / "a.md").rename(tmp_path / "articles" / "b.md")
    result, pins = published(tmp_path, NOW + timedelta(days=1))
    assert [a.feed_id for a in result.articles] == ["tag:a.example,2026-05-01:a"]
    assert set(pins) == {"file:articles/b.md"}
    assert pins["file:articles/b.md"].first_seen == NOW  # not "new" again


def test_publish_invalid_record_raises_every_problem_unless_skipped(tmp_path: Path) -> None:
    write_site(
        tmp_path,
        {
            "ok.md": record("Ok", "2026-05-01T08:00:00Z"),
            "bad.md": "---\ntitle: Bad\ndate: soon\n---\n",
            "worse.json": "{",
        },
    )
    with pytest.raises(RecordError) as caught:
        published(tmp_path)
    assert caught.value.problems == [
        "articles/bad.md:3: date: not a valid ISO 8601 date: 'soon'",
        "articles/worse.json:1: json: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
    ]
    result, _ = published(tmp_path, skip_invalid=True)
    assert [a.title for a in result.articles] == ["Ok"]
    assert result.warnings[0] == "skipped invalid record: articles/bad.md:3: date: not a valid ISO 8601 date: 'soon'"
    assert result.records_read == 3
