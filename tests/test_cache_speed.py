"""The parsed-record cache file and the record scan that warm rebuilds rely on.

The cache keeps each record's details apart from the index and reads them only when
asked; these tests check that what it serves is always what parsing gives, and that a
damaged, half-written or outdated file is ignored rather than believed.
"""

from __future__ import annotations

import marshal
import os
from pathlib import Path

import pytest

from syndicate.cache import RECORDS_FORMAT, RecordCache, StoredDetails, details_bytes
from syndicate.config import load_config
from syndicate.records import load_records, scan_record_files

CONFIG = """\
[site]
title = "Test Site"
url = "https://news.example.org/"

[records]
paths = ["articles"]
"""


def record(i: int, title: str | None = None) -> str:
    return (
        f'---\ntitle: "{title or f"T{i}"}"\ndate: 2026-01-{1 + i % 28:02d}\ncategories: ["c{i % 3}"]\n'
        f'tags: ["t{i}"]\nauthor: "Writer {i}"\nimage: "/img/{i}.png"\nmood: "extra {i}"\n---\nBody {i}.\n'
    )


def make_site(root: Path, count: int) -> Path:
    (root / "syndicate.toml").write_text(CONFIG, encoding="utf-8")
    articles = root / "articles"
    articles.mkdir()
    for i in range(count):
        (articles / f"{i:03d}.md").write_text(record(i), encoding="utf-8")
    return root / "syndicate.toml"


def load(root: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    return load_records(load_config(root / "syndicate.toml"), **kwargs)  # type: ignore[arg-type]


def as_scan(files: dict) -> tuple[list, dict]:  # type: ignore[type-arg]
    """``{rel: (identity, result)}`` as RecordCache.save takes it: scan entries and results."""
    return [(rel, None, ident) for rel, (ident, _) in files.items()], {
        rel: result for rel, (_, result) in files.items()
    }


def cache_file(root: Path) -> Path:
    return load_config(root / "syndicate.toml").state_dir / "records.cache"


def test_cached_records_read_their_details_from_the_file_and_equal_a_fresh_parse(tmp_path: Path) -> None:
    make_site(tmp_path, 6)
    fresh = load(tmp_path, cache=False)
    first = load(tmp_path)
    assert first == fresh
    # The second load serves every record from the file, details included.
    second = load(tmp_path)
    assert second == fresh
    article = {a.title: a for a in second.articles}["T4"]
    assert article.tags == ("t4",)
    assert [a.name for a in article.authors] == ["Writer 4"]
    assert article.image is not None and article.image.url == "https://news.example.org/img/4.png"
    assert dict(article.extra) == {"mood": "extra 4"}


def test_record_cache_hands_out_stored_details_that_read_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "records.cache"
    files = {
        f"r{i}.md": ((i, i * 10, i * 100), (((f"k{i}", b"details " * i, "x"), (f"k{i}b", b"", "y")), (), 2))
        for i in range(5)
    }
    RecordCache(path, "fp", 1).save(*as_scan(files), None)
    loaded = RecordCache(path, "fp", 1).load()
    assert set(loaded) == set(files)
    for rel, (ident, (recs, problems, count)) in files.items():
        got_ident, (got_recs, got_problems, got_count) = loaded[rel]
        assert (tuple(got_ident), got_problems, got_count) == (ident, problems, count)
        for rec, got in zip(recs, got_recs, strict=True):
            assert isinstance(got[1], StoredDetails)
            assert (got[0], details_bytes(got[1]), got[2]) == rec
    assert RecordCache(path, "another fingerprint", 1).load() == {}


def test_record_cache_rewrites_itself_from_its_own_mapping(tmp_path: Path) -> None:
    # A full rewrite copies the unchanged details out of the file it is about to replace.
    path = tmp_path / "records.cache"
    files = {f"r{i}.md": ((i, 0, 0), (((f"k{i}", f"blob {i}".encode()),), (), 1)) for i in range(600)}
    RecordCache(path, "fp", 1).save(*as_scan(files), None)
    cache = RecordCache(path, "fp", 1)
    loaded = cache.load()
    changed = {rel: ((ident[0], 1, 0), entry) for rel, (ident, entry) in list(loaded.items())[:550]}
    cache.save(*as_scan({**loaded, **changed}), set(changed))
    assert not path.with_name("records.cache.delta").exists()  # too many changes for a delta
    again = RecordCache(path, "fp", 1).load()
    assert {rel: details_bytes(e[1][0][0][1]) for rel, e in again.items()} == {
        rel: f"blob {rel[1:-3]}".encode() for rel in files
    }
    assert {rel: tuple(e[0]) for rel, e in again.items() if rel in changed} == {
        rel: (ident[0], 1, 0) for rel, (ident, _) in changed.items()
    }


@pytest.mark.parametrize("keep", [0, 10, 0.5, 0.9, -1])
def test_a_half_written_record_cache_is_ignored(tmp_path: Path, keep: float) -> None:
    make_site(tmp_path, 5)
    expected = load(tmp_path)
    path = cache_file(tmp_path)
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:cut])
    assert RecordCache(path, "anything", 8).load() == {}
    assert load(tmp_path) == expected
    assert load(tmp_path) == expected  # and the rewritten file is whole again


def test_a_record_cache_of_the_old_format_is_rebuilt(tmp_path: Path) -> None:
    make_site(tmp_path, 3)
    expected = load(tmp_path, cache=False)
    path = cache_file(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The previous layout: marshal chunks straight after the tag, details inline.
    old = b"syndicate-records-1\n" + marshal.dumps("fingerprint") + marshal.dumps(0)
    path.write_bytes(old)
    assert load(tmp_path) == expected
    assert path.read_bytes().startswith(RECORDS_FORMAT)


def test_an_edited_record_is_read_again_after_the_cache_was_mapped(tmp_path: Path) -> None:
    make_site(tmp_path, 8)
    load(tmp_path)
    target = tmp_path / "articles" / "003.md"
    target.write_text(record(3, title="Edited title that is longer"), encoding="utf-8")
    assert "Edited title that is longer" in {a.title for a in load(tmp_path).articles}
    # Same size, same mtime as before would be needed to fool the cache; a new inode is not.
    target.unlink()
    target.write_text(record(3, title="Edited title that is longer"), encoding="utf-8")
    assert load(tmp_path) == load(tmp_path, cache=False)


def test_scan_finds_nested_records_skips_hidden_and_warns_about_other_files(tmp_path: Path) -> None:
    make_site(tmp_path, 2)
    articles = tmp_path / "articles"
    (articles / "2026" / "01").mkdir(parents=True)
    (articles / "2026" / "01" / "deep.MD").write_text(record(5), encoding="utf-8")
    (articles / "2026" / "list.jsonl").write_text("", encoding="utf-8")
    (articles / ".hidden").mkdir()
    (articles / ".hidden" / "x.md").write_text(record(6), encoding="utf-8")
    (articles / ".draft.md").write_text(record(7), encoding="utf-8")
    (articles / "notes.txt").write_text("", encoding="utf-8")
    (articles / "README").write_text("", encoding="utf-8")
    files, warnings = scan_record_files(load_config(tmp_path / "syndicate.toml"))
    assert [rel for rel, _, _ in files] == [
        "articles/000.md",
        "articles/001.md",
        "articles/2026/01/deep.MD",
        "articles/2026/list.jsonl",
    ]
    for rel, path, ident in files:
        st = os.stat(path)
        assert path == str(tmp_path / rel)
        assert ident == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert [w.split(":")[0] for w in warnings] == ["articles/README", "articles/notes.txt"]


def test_scan_accepts_a_single_record_file_as_a_path(tmp_path: Path) -> None:
    make_site(tmp_path, 2)
    toml = tmp_path / "syndicate.toml"
    toml.write_text(CONFIG.replace('["articles"]', '["articles/001.md", "missing"]'), encoding="utf-8")
    files, warnings = scan_record_files(load_config(toml))
    assert [rel for rel, _, _ in files] == ["articles/001.md"]
    assert warnings == ["missing: record folder does not exist"]


@pytest.mark.parametrize("pinned", [False, True])
def test_feed_candidates_are_the_newest_per_feed_with_ties_and_pinned_ids(tmp_path: Path, pinned: bool) -> None:
    import random

    from syndicate.build import _feed_candidates

    config_path = make_site(tmp_path, 0)
    config = load_config(config_path)
    details = marshal.dumps(("t", "s", 0, (), (), "", None, None, None, b"", False))
    rng = random.Random(7)
    recs = [
        (f"k{i}", f"i{i}", f"https://x/{i}", rng.randrange(40), f"f{rng.randrange(60):02d}",
         tuple(rng.sample(["a", "b", "c", "d"], rng.randrange(3))), (f"{i}.md", 1, None), False, details)
        for i in range(400)
    ]  # fmt: skip
    overrides = {f"k{i}": f"f{rng.randrange(60):02d}" for i in range(0, 400, 7)} if pinned else {}
    limit = config.feeds.items

    def feed_id(rec: tuple) -> str:
        return overrides.get(rec[0], rec[4])

    ordered = sorted(recs, key=lambda rec: (-rec[3], feed_id(rec)))
    wanted = {rec[0] for rec in ordered[:limit]}
    for name in "abcd":
        wanted |= {rec[0] for rec in [r for r in ordered if name in r[5]][:limit]}
    got = _feed_candidates(config, recs, overrides)
    assert {a.key for a in got} == wanted
    assert [a.key for a in got] == [rec[0] for rec in ordered if rec[0] in wanted]
    assert [a.feed_id for a in got] == [feed_id(rec) for rec in ordered if rec[0] in wanted]
    assert limit < len(wanted) < len(recs) - limit  # the per-feed limits did cut
