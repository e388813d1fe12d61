# ruff: noqa: E501 - the problem table reads best one case per line
"""Reading article records: every format, every problem with its exact location, Unicode, caching."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from syndicate.config import load_config
from syndicate.records import (
    _RecordLoader,
    body_text,
    cut_summary,
    load_records,
    parse_front_matter,
    render_content,
    slugify,
)

DATA = Path(__file__).parent / "data" / "records"

CONFIG = """\
[site]
title = "Test Site"
url = "https://news.example.org/"
timezone = "Europe/Brussels"
author = "Desk"
{site_extra}
[records]
paths = ["articles"]
permalink = "{permalink}"
"""


def make_site(
    root: Path, files: dict[str, str], *, permalink: str = "/{category}/{slug}/", site_extra: str = ""
) -> Path:
    (root / "syndicate.toml").write_text(CONFIG.format(permalink=permalink, site_extra=site_extra), encoding="utf-8")
    for rel, text in files.items():
        path = root / "articles" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "articles").mkdir(exist_ok=True)
    return root / "syndicate.toml"


def load(root: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    config = load_config(root / "syndicate.toml")
    return load_records(config, **kwargs), config  # type: ignore[arg-type]


def by_title(records):  # type: ignore[no-untyped-def]
    return {a.title: a for a in records.articles}


def test_records_every_format_is_read(tmp_path: Path) -> None:
    make_site(tmp_path, {})
    for name in os.listdir(DATA):
        shutil.copy(DATA / name, tmp_path / "articles" / name)
    records, _ = load(tmp_path)
    assert records.problems == ()
    assert records.records_read == 7
    titles = by_title(records)
    # The draft is read and counted, never returned.
    assert sorted(titles) == sorted(
        ['Économie: l\'Europe & "nous"', "First JSON", "Second JSON", "Line one", "YAML one", "YAML two"]
    )
    good = titles['Économie: l\'Europe & "nous"']
    assert good.key == "file:articles/good.md"
    assert good.slug == "good"
    assert good.url == "https://news.example.org/economie/good/"
    assert good.categories == ("Économie", "Азербайджан")
    assert good.tags == ("budget", "euro")
    assert good.authors[0].name == "Zoë Müller" and good.authors[0].email == "zoe@example.org"
    # Date-only: midnight in the site's time zone (Brussels, UTC+1 in March).
    assert good.published == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    assert good.feed_id == "tag:news.example.org,2026-03-01:good"
    assert good.extra == {"source_note": "kept for templates"}
    assert good.summary == "Read the report and see chart."

    second = titles["Second JSON"]
    assert second.key == "id:json-2" and second.id == "json-2"
    assert second.published == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert second.summary == "Plain HTML body."
    assert titles["First JSON"].key == "file:articles/many.json#0"
    assert titles["First JSON"].slug == "first-json"
    # Naive time: local to the site.
    assert titles["Line one"].published == datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
    assert titles["Line one"].authors[0].name == "Desk"
    assert titles["YAML one"].url == "https://news.example.org/special/yaml-one/"
    image = titles["YAML two"].image
    assert image is not None
    assert image.url == "https://news.example.org/yaml-two/pic.jpg"
    assert (image.alt, image.type, image.width, image.height) == ("A picture", "image/jpeg", 640, 480)


def test_records_content_links_made_absolute_and_xml_safe(tmp_path: Path) -> None:
    make_site(tmp_path, {})
    shutil.copy(DATA / "good.md", tmp_path / "articles" / "good.md")
    records, config = load(tmp_path)
    article = records.articles[0]
    assert article.body is not None and article.body.text is None  # left in the file
    html = render_content(article, config)
    assert '<a href="https://news.example.org/economie/reports/2026.pdf">the report</a>' in html
    assert 'src="https://news.example.org/img/chart.png"' in html
    assert "]]&gt;" in html
    assert body_text(article).startswith("Read the report and see chart")


def test_records_render_removes_xml_illegal_characters(tmp_path: Path) -> None:
    make_site(
        tmp_path, {"a.json": '{"title": "T\\u0001itle", "date": "2026-01-01", "body": "a\\u000bb <a href=x>y</a>"}'}
    )
    records, config = load(tmp_path)
    article = records.articles[0]
    assert article.title == "Title"
    assert render_content(article, config) == '<p>ab <a href="https://news.example.org/a/x">y</a></p>\n'


PROBLEMS = [
    ("missing-title.md", "---\ndate: 2026-01-01\n---\nbody\n", "articles/missing-title.md:1: title: missing (every record needs one)"),
    ("bad-date.md", "---\ntitle: T\ncategories: [a]\ndate: 2026-13-01\n---\n", "articles/bad-date.md:4: date: not a valid ISO 8601 date: '2026-13-01'"),
    ("words-date.md", "---\ntitle: T\ndate: last tuesday\n---\n", "articles/words-date.md:3: date: not a valid ISO 8601 date: 'last tuesday'"),
    ("no-date.json", '{"title": "T"}', "articles/no-date.json:1: date: missing (every record needs one)"),
    ("bad-url.md", "---\ntitle: T\ndate: 2026-01-01\nurl: ftp://x.org/a\n---\n", "articles/bad-url.md:4: url: must be an http(s) URL or a path on the site, got 'ftp://x.org/a'"),
    ("space-url.yaml", "title: T\ndate: 2026-01-01\nurl: /a b/\n", "articles/space-url.yaml:3: url: not a valid URL: '/a b/'"),
    ("bad-yaml.md", "---\ntitle: T\ndate: [2026\n---\n", "articles/bad-yaml.md:4: front matter: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence)"),
    ("no-fm.md", "just text\n", "articles/no-fm.md:1: front matter: missing (a record starts with a '---' line, then YAML fields)"),
    ("open-fm.md", "---\ntitle: T\n", "articles/open-fm.md:1: front matter: not closed (no '---' line after the fields)"),
    ("bad.json", '[\n  {"title": "A", "date": "2026-01-01"},\n  {"title": "B" "date": 1}\n]\n', "articles/bad.json:3: json: invalid JSON: Expecting ',' delimiter (column 17)"),
    ("bad.jsonl", '{"title": "A", "date": "2026-01-01"}\n{nope}\n', "articles/bad.jsonl:2: json: invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
    ("list.json", '[\n {"title": "A", "date": "2026-01-01"},\n 5\n]', "articles/list.json:3: record: expected a mapping of fields, got a number"),
    ("second.yaml", "- title: A\n  date: 2026-01-01\n- title: B\n  date: 2026-01-01\n  draft: maybe\n", "articles/second.yaml:5: draft: must be true or false, got 'maybe'"),
    ("title-list.md", "---\ntitle: [a, b]\ndate: 2026-01-01\n---\n", "articles/title-list.md:2: title: must be text, got a list"),
    ("bad-image.md", "---\ntitle: T\ndate: 2026-01-01\nimage: {alt: x}\n---\n", "articles/bad-image.md:4: image: must be a URL, or a mapping with url (and optional alt, type, width, height, length)"),
    ("bad-author.md", "---\ntitle: T\ndate: 2026-01-01\nauthor: {name: A, email: not-an-email}\n---\n", "articles/bad-author.md:4: author: not a valid email address: 'not-an-email'"),
    ("both.json", '{"title": "T", "date": "2026-01-01",\n "body": "x", "content_html": "<p>y</p>"}', "articles/both.json:2: content_html: give either body (Markdown) or content_html, not both"),
    ("latin1.md", b"---\ntitle: caf\xe9\n---\n", "articles/latin1.md:2: file: not valid UTF-8 (byte 14)"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "expected"), PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_records_problem_is_reported_with_location(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    make_site(tmp_path, {})
    path = tmp_path / "articles" / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    records, _ = load(tmp_path)
    assert records.problems == (expected,)
    assert all(a.origin.path == f"articles/{name}" for a in records.articles) or not records.articles


def test_records_every_problem_is_collected_not_only_the_first(tmp_path: Path) -> None:
    make_site(
        tmp_path,
        {
            "a.md": "---\ndate: nope\n---\n",
            "b.json": '{"title": "B"}',
            "c.md": "---\ntitle: C\ndate: 2026-01-01\n---\nfine\n",
        },
    )
    records, _ = load(tmp_path)
    assert records.problems == (
        "articles/a.md:1: title: missing (every record needs one)",
        "articles/a.md:2: date: not a valid ISO 8601 date: 'nope'",
        "articles/b.json:1: date: missing (every record needs one)",
    )
    assert [a.title for a in records.articles] == ["C"]
    assert records.records_read == 3


def test_records_duplicate_id_and_url_name_both_places(tmp_path: Path) -> None:
    make_site(
        tmp_path,
        {
            "a.md": "---\ntitle: A\ndate: 2026-01-01\nid: same\n---\n",
            "b.yaml": "- title: B\n  date: 2026-01-02\n  url: /x/\n- title: B2\n  date: 2026-01-02\n  id: same\n",
            "c.jsonl": '{"title": "C", "date": "2026-01-03", "url": "https://news.example.org/x/"}\n',
        },
    )
    records, _ = load(tmp_path)
    assert records.problems == (
        "articles/b.yaml:6: id: duplicate id 'same', also used at articles/a.md:4",
        "articles/c.jsonl:1: url: duplicate url 'https://news.example.org/x/', also used at articles/b.yaml:3",
    )
    assert sorted(a.title for a in records.articles) == ["A", "B"]


def test_records_unknown_file_type_is_warned_and_skipped(tmp_path: Path) -> None:
    make_site(
        tmp_path, {"notes.txt": "hello", ".hidden.md": "ignored", "ok.md": "---\ntitle: T\ndate: 2026-01-01\n---\n"}
    )
    records, _ = load(tmp_path)
    assert records.problems == ()
    assert records.warnings == (
        "articles/notes.txt: unknown file type, skipped (records are .md, .json, .jsonl, .yaml, .yml)",
    )
    assert [a.title for a in records.articles] == ["T"]


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Économie à Zürich", "economie-a-zurich"),
        ("Türkiye", "turkiye"),
        ("Азербайджан", "azerbaydzhan"),
        ("  --Hello,   World!--  ", "hello-world"),
        ("Ελλάδα", "ellada"),
        ("", ""),
    ],
)
def test_records_slugify_is_ascii_and_readable(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_records_unicode_file_names_and_titles(tmp_path: Path) -> None:
    make_site(
        tmp_path,
        {
            "2026-02-01-Азербайджан и ЕС.md": "---\ntitle: Азербайджан и ЕС\ndate: 2026-02-01T10:00:00+04:00\n"
            "categories: Азербайджан\n---\nТекст статьи.\n",
            "türkiye.json": '[{"title": "Türkiye ve AB", "date": "2026-02-02"}]',
        },
    )
    records, _ = load(tmp_path)
    assert records.problems == ()
    titles = by_title(records)
    cyrillic = titles["Азербайджан и ЕС"]
    assert cyrillic.slug == "azerbaydzhan-i-es"  # from the file name, date prefix dropped
    assert cyrillic.url == "https://news.example.org/azerbaydzhan/azerbaydzhan-i-es/"
    assert cyrillic.summary == "Текст статьи."
    assert titles["Türkiye ve AB"].slug == "turkiye-ve-ab"  # from the title in a multi-record file


def test_records_permalink_pattern_and_tag_settings(tmp_path: Path) -> None:
    make_site(
        tmp_path,
        {"x.md": "---\ntitle: X\ndate: 2026-12-31T23:30:00Z\nid: story/42\n---\n"},
        permalink="/{year}/{month}/{day}/{slug}.html",
        site_extra='tag_authority = "example.org"\ntag_date = "2020"',
    )
    records, _ = load(tmp_path)
    article = records.articles[0]
    # 23:30 UTC on 31 December is already 1 January in Brussels.
    assert article.url == "https://news.example.org/2027/01/01/x.html"
    assert article.feed_id == "tag:example.org,2020:story/42"


def test_records_summary_cut_at_word_boundary_near_300() -> None:
    text = ("word " * 100).strip()
    cut = cut_summary(text)
    assert len(cut) <= 301 and cut.endswith("word…")
    assert cut_summary("short") == "short"
    long_summary = cut_summary("x" * 400)
    assert long_summary == "x" * 300 + "…"


def test_records_default_summary_is_first_paragraph(tmp_path: Path) -> None:
    body = "# Heading\n\n" + " ".join(["Lorem ipsum **dolor**"] * 40) + "\n\nSecond.\n"
    make_site(tmp_path, {"s.md": f"---\ntitle: S\ndate: 2026-01-01\n---\n{body}"})
    records, _ = load(tmp_path)
    summary = records.articles[0].summary
    assert summary.startswith("Lorem ipsum dolor Lorem")
    assert summary.endswith("…") and 250 < len(summary) <= 301


FRONT_MATTERS = [
    'title: "A \\"quoted\\" title"\ndate: 2026-01-01T10:00:00+02:00\ntags: ["a", "b"]\n',
    "title: Plain words here\ndraft: true\n",
    "title: yes\n",
    "title: 2026-01-01\n",
    "title: 12\n",
    "title: a: b\n",
    "title: x # comment\n",
    'tags: ["a", 1]\n',
    'title: "caf\\u00e9"\n',
    "on: x\n",
    "title: null\n",
    "author:\n  name: A\n",
    '# comment\ntitle: "x"\n\nslug: "y"\n',
]


@pytest.mark.parametrize("text", FRONT_MATTERS)
def test_records_fast_front_matter_reads_exactly_what_yaml_reads(text: str) -> None:
    try:
        expected = yaml.load(text, Loader=_RecordLoader)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            parse_front_matter(text)
        return
    assert parse_front_matter(text) == expected


def test_records_cache_is_used_and_invalidated_by_edits_and_config(tmp_path: Path) -> None:
    make_site(
        tmp_path, {"a.md": "---\ntitle: A\ndate: 2026-01-01\n---\n", "b.md": "---\ntitle: B\ndate: 2026-01-02\n---\n"}
    )
    first, config = load(tmp_path)
    assert (config.state_dir / "records.cache").exists()
    again, _ = load(tmp_path)
    assert again == first
    # An edit of one file is seen (size and mtime change).
    (tmp_path / "articles" / "a.md").write_text("---\ntitle: A edited\ndate: 2026-01-01\n---\n", encoding="utf-8")
    edited, _ = load(tmp_path)
    assert sorted(a.title for a in edited.articles) == ["A edited", "B"]
    # A config change that affects parsing (the base URL) re-derives every URL.
    toml = tmp_path / "syndicate.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("news.example.org", "www.example.net"), encoding="utf-8")
    moved, _ = load(tmp_path)
    assert {a.url for a in moved.articles} == {"https://www.example.net/a/", "https://www.example.net/b/"}


def test_records_parallel_parsing_gives_the_same_result(tmp_path: Path) -> None:
    files = {
        f"{i:04d}.md": f'---\ntitle: "T{i}"\ndate: 2026-01-{1 + i % 28:02d}\ncategories: ["c{i % 7}"]\n---\nBody {i}.\n'
        for i in range(450)
    }
    make_site(tmp_path, files)
    serial, _ = load(tmp_path, cache=False, jobs=1)
    parallel, _ = load(tmp_path, cache=False, jobs=2)
    assert serial == parallel
    assert len(serial.articles) == 450


def test_records_cache_delta_tracks_several_edits_and_deletions(tmp_path: Path) -> None:
    files = {f"{i}.md": f"---\ntitle: T{i}\ndate: 2026-01-0{1 + i}\n---\n" for i in range(4)}
    make_site(tmp_path, files)
    load(tmp_path)
    articles = tmp_path / "articles"
    (articles / "0.md").write_text("---\ntitle: First edit\ndate: 2026-01-01\n---\n", encoding="utf-8")
    load(tmp_path)
    (articles / "1.md").write_text("---\ntitle: Second edit\ndate: 2026-01-02\n---\n", encoding="utf-8")
    (articles / "2.md").unlink()
    records, config = load(tmp_path)
    assert (config.state_dir / "records.cache.delta").exists()
    assert sorted(a.title for a in records.articles) == ["First edit", "Second edit", "T3"]
    assert load(tmp_path)[0] == records
    assert load(tmp_path, cache=False)[0] == records
