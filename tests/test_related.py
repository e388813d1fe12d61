"""Related articles: hand-made archives where the right answer is obvious, the term cache, and the command."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import cli
from syndicate.config import Config, parse_config
from syndicate.model import Article, Body, SourceRef
from syndicate.related import RelatedIndex, UnknownArticleError, find_article
from syndicate.textindex import INDEX_FILENAME

BASE = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config({"site": {"title": "T", "url": "https://example.org/"}}, tmp_path / "syndicate.toml")


def art(
    name: str,
    title: str,
    body: str = "",
    *,
    categories: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    days: float = 0,
    url: str | None = None,
    summary: str = "",
    source: SourceRef | None = None,
) -> Article:
    when = BASE + timedelta(days=days)
    return Article(
        key=f"id:{name}",
        id=name,
        feed_id=f"tag:example.org,2026:{name}",
        title=title,
        url=url or f"https://example.org/news/{name}/",
        slug=name,
        published=when,
        updated=when,
        categories=categories,
        tags=tags,
        summary=summary,
        body=Body("markdown", text=body),
        source=source,
    )


ENERGY = [
    art("gas", "Gas prices soar as LNG terminals fill", "Tankers of liquefied gas queue at the LNG terminal.",
        categories=("Energy",), tags=("gas", "lng")),
    art("lng", "New LNG terminal opens on the coast", "The terminal unloads liquefied gas from tankers.",
        categories=("Energy",), tags=("lng",), days=-1),
    art("wind", "Offshore wind farm approved", "Turbines will be built at sea.", categories=("Energy",), days=-2),
    art("cup", "Cup final goes to penalties", "The match ended level after extra time.",
        categories=("Sport",), tags=("football",), days=-1),
    art("budget", "Parliament passes the budget", "Members voted on spending.", categories=("Politics",), days=-3),
]  # fmt: skip


def titles(items: list) -> list[str]:  # type: ignore[type-arg]
    return [item.article.id for item in items]


def build(config: Config, articles: list[Article], **kwargs: object) -> RelatedIndex:
    return RelatedIndex.build(config, articles, text=lambda a: a.body.text or "", **kwargs)  # type: ignore[union-attr,arg-type]


def test_related_shared_tags_category_and_text_win(config: Config) -> None:
    items = build(config, ENERGY).related(ENERGY[0])
    assert titles(items) == ["lng", "wind"]
    best = items[0]
    assert best.reasons[:2] == ("shared category: Energy", "shared tag: lng")
    assert best.reasons[2].startswith("text similarity 0.")
    assert best.reasons[-1].startswith("recency x")
    assert best.score > items[1].score > 0


def test_related_never_itself_nor_its_url(config: Config) -> None:
    copies = [
        art("gas-copy", "Gas prices soar as LNG terminals fill", "Tankers of liquefied gas queue at the LNG terminal.",
            categories=("Energy",), tags=("gas", "lng"), url="HTTPS://Example.ORG/news/gas#comments"),
        art("gas-outside", "Gas prices soar as LNG terminals fill", "Tankers of liquefied gas.",
            url="https://example.org/news/gas/?utm_source=feed", source=SourceRef("wire", "https://wire.example/feed")),
    ]  # fmt: skip
    index = build(config, ENERGY + copies)
    ids = titles(index.related(ENERGY[0], limit=10))
    assert "gas" not in ids and "gas-copy" not in ids and "gas-outside" not in ids
    assert ids[0] == "lng"


def test_related_two_candidates_with_one_url_appear_once(config: Config) -> None:
    twin = art("lng-twin", "New LNG terminal opens on the coast", "The terminal unloads liquefied gas from tankers.",
               categories=("Energy",), tags=("lng",), days=-1, url="https://example.org/news/lng")  # fmt: skip
    ids = titles(build(config, [*ENERGY, twin]).related(ENERGY[0], limit=10))
    assert sum(i in ("lng", "lng-twin") for i in ids) == 1


def test_related_same_for_shuffled_input(config: Config) -> None:
    many = ENERGY + [
        art(f"n{i}", f"Gas note {i}", "gas terminal " * (i % 3 + 1), categories=("Energy",), days=-(i % 4))
        for i in range(20)
    ]
    expected = build(config, many).related(ENERGY[0], limit=8)
    for seed in range(3):
        shuffled = many[:]
        random.Random(seed).shuffle(shuffled)
        assert build(config, shuffled).related(ENERGY[0], limit=8) == expected


def test_related_prefers_recent_and_breaks_ties_by_date_then_feed_id(config: Config) -> None:
    query = art("q", "Rail strike", "Trains stopped.", tags=("rail",))
    old = art("old", "Rail strike ends", "Trains run again.", tags=("rail",), days=-400)
    recent = art("recent", "Rail strike ends", "Trains run again.", tags=("rail",), days=-1)
    b = art("b", "Rail strike ends", "Trains run again.", tags=("rail",), days=-1)
    filler = [art(f"f{i}", f"Unrelated {i}", "nothing") for i in range(5)]
    items = build(config, [query, old, recent, b, *filler]).related(query, limit=3)
    assert titles(items) == ["b", "recent", "old"]  # equal scores: same date, so feed id decides
    assert items[0].score == items[1].score > items[2].score


def test_related_limit_respected(config: Config) -> None:
    index = build(config, ENERGY)
    assert len(index.related(ENERGY[0], limit=1)) == 1
    assert index.related(ENERGY[0], limit=0) == []
    # Only articles with something in common are related: the sport story never is.
    assert "cup" not in titles(index.related(ENERGY[0], limit=10))


def test_related_outside_items_can_be_related(config: Config) -> None:
    wire = SourceRef("wire", "https://wire.example/feed")
    outside = art("wire-lng", "LNG tankers wait at the terminal", "Liquefied gas tankers queue.",
                  tags=("lng",), url="https://wire.example/lng", source=wire)  # fmt: skip
    items = build(config, [*ENERGY, outside]).related(ENERGY[0], limit=3)
    assert "wire-lng" in titles(items)
    assert any(item.article.is_external for item in items)


def test_related_article_outside_the_archive(config: Config) -> None:
    fresh = art("draft", "LNG terminal expansion", "More liquefied gas tankers at the terminal.", tags=("lng",))
    assert titles(build(config, ENERGY).related(fresh, limit=2)) == ["lng", "gas"]


def test_related_index_persists_and_rereads_only_changes(config: Config, tmp_path: Path) -> None:
    cache = tmp_path / "state"
    reads: list[str] = []

    def text(a: Article) -> str:
        reads.append(a.id)
        return a.body.text or ""  # type: ignore[union-attr]

    first = RelatedIndex.build(config, ENERGY, cache_dir=cache, text=text).related(ENERGY[0])
    assert sorted(reads) == sorted(a.id for a in ENERGY)
    assert (cache / INDEX_FILENAME).is_file()
    reads.clear()
    assert RelatedIndex.build(config, ENERGY, cache_dir=cache, text=text).related(ENERGY[0]) == first
    assert reads == []
    edited = [*ENERGY[:2], art("wind", "Offshore wind farm approved", "Turbines at sea, and a gas plant closes."),
              *ENERGY[3:], art("extra", "Another LNG story", "LNG again")]  # fmt: skip
    RelatedIndex.build(config, edited, cache_dir=cache, text=text)
    assert sorted(reads) == ["extra", "wind"]


def test_related_unreadable_cache_is_rebuilt(config: Config, tmp_path: Path) -> None:
    cache = tmp_path / "state"
    cache.mkdir()
    (cache / INDEX_FILENAME).write_bytes(b"not an index")
    items = build(config, ENERGY, cache_dir=cache).related(ENERGY[0])
    assert titles(items) == ["lng", "wind"]
    assert (cache / INDEX_FILENAME).read_bytes()[:2] == b"PK"


def test_related_default_text_reads_the_markdown_body(config: Config, tmp_path: Path) -> None:
    record = tmp_path / "b.md"
    record.write_text("---\ntitle: x\n---\nThe *zeppelin* hangar at the **airship** field.\n", encoding="utf-8")
    offset = len("---\ntitle: x\n---\n")
    a = art("a", "Airship news", "The zeppelin and the airship.")
    b = Article(**{**art("b", "Hangar").__dict__, "body": Body("markdown", path=str(record), offset=offset)})
    c = art("c", "Something else", "Bread and butter.")
    assert titles(RelatedIndex.build(config, [a, b, c]).related(a)) == ["b"]


@pytest.mark.parametrize(
    ("ident", "expected"),
    [("gas", "gas"), ("id:lng", "lng"), ("tag:example.org,2026:wind", "wind"), ("HTTPS://EXAMPLE.org/news/cup", "cup")],
)
def test_find_article_by_id_key_feed_id_url(ident: str, expected: str) -> None:
    assert find_article(ENERGY, ident).id == expected


def test_find_article_unknown_or_ambiguous() -> None:
    with pytest.raises(UnknownArticleError, match="no published article has the id, feed id, URL or slug 'nope'"):
        find_article(ENERGY, "nope")
    twins = [art("x1", "A"), Article(**{**art("x2", "B").__dict__, "slug": "x1-slug"}),
             Article(**{**art("x3", "C").__dict__, "slug": "x1-slug"})]  # fmt: skip
    with pytest.raises(UnknownArticleError, match="matches 2 articles"):
        find_article(twins, "x1-slug")


def _site(tmp_path: Path) -> Path:
    (tmp_path / "articles").mkdir()
    (tmp_path / "syndicate.toml").write_text(
        '[site]\ntitle = "News"\nurl = "https://news.example/"\n', encoding="utf-8"
    )
    records = {
        "gas": ("Gas prices soar as LNG terminals fill", "Energy", '["gas", "lng"]', "Tankers of LNG queue."),
        "lng": ("New LNG terminal opens", "Energy", '["lng"]', "The terminal takes LNG tankers."),
        "cup": ("Cup final goes to penalties", "Sport", '["football"]', "Extra time ended level."),
    }
    for day, (name, (title, category, tags, body)) in enumerate(records.items(), start=1):
        (tmp_path / "articles" / f"{name}.md").write_text(
            f'---\ntitle: "{title}"\ndate: 2026-11-0{day}T09:00:00Z\ncategories: ["{category}"]\n'
            f"tags: {tags}\n---\n{body}\n",
            encoding="utf-8",
        )
    return tmp_path / "syndicate.toml"


def test_cli_related_prints_scores_and_reasons(tmp_path: Path) -> None:
    path = _site(tmp_path)
    args = ["-c", str(path), "related", "gas", "--now", "2026-11-28T12:00:00Z"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Related to: Gas prices soar as LNG terminals fill"
    assert lines[2].startswith(" 1. 0.") and lines[2].endswith("  New LNG terminal opens")
    assert lines[3].startswith("    https://news.example/")
    assert "shared category: Energy; shared tag: lng; text similarity" in lines[4]
    assert "Cup final" not in result.stdout
    assert (tmp_path / ".syndicate" / INDEX_FILENAME).is_file()


def test_cli_related_unknown_id(tmp_path: Path) -> None:
    path = _site(tmp_path)
    result = CliRunner().invoke(cli, ["-c", str(path), "related", "nope", "--now", "2026-11-28T12:00:00Z"])
    assert result.exit_code == 1
    assert result.stderr == "Error: no published article has the id, feed id, URL or slug 'nope'\n"
    assert result.stdout == ""


def _words(n: int, prefix: str) -> str:
    return " ".join(f"{prefix}{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(n))


def test_term_index_keeps_each_documents_strongest_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    from syndicate import textindex

    docs = [("Zeppelin hangar", "", _words(200, "w") + " zeppelin" * 5), ("Other", "", _words(60, "w"))]
    docs += [(f"Doc {i}", "", _words(30, f"d{i}")) for i in range(5)]
    entries = [(f"k{i}", "fp") for i in range(len(docs))]
    index, _ = textindex.sync_index(None, entries, lambda i: docs[i])
    lengths = [int(x) for x in index.indptr[1:] - index.indptr[:-1]]
    assert lengths[:2] == [textindex.TERMS_PER_DOC, textindex.TERMS_PER_DOC]
    first = {index.vocab[t] for t in index.terms[: lengths[0]]}
    assert {"zeppelin", "hangar"} <= first  # heavy (title, repeated) terms survive the cut
    monkeypatch.setattr(textindex, "PRUNE_BATCH", 2)
    batched, _ = textindex.sync_index(None, entries, lambda i: docs[i])
    assert batched.terms.tolist() == index.terms.tolist() and batched.indptr.tolist() == index.indptr.tolist()
