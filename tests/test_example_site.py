"""The bundled example site: its committed feeds/ stay current and valid; attribution of local sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from feedcheck import atom_problems, jsonfeed_problems, rss2_problems
from lxml import etree
from run_support import copy_example_site

from syndicate.cli import cli

REPO = Path(__file__).resolve().parent.parent
NOW = "2026-11-28T12:00:00Z"
ATOM = "{http://www.w3.org/2005/Atom}"
REGENERATE = (
    "rm -rf .syndicate feeds && SYNDICATE_NOW=2026-11-28T12:00:00Z syndicate ingest "
    "&& SYNDICATE_NOW=2026-11-28T12:00:00Z syndicate build"
)


def _run(site: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["-c", str(site / "syndicate.toml"), *args], env={"SYNDICATE_NOW": NOW})
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = copy_example_site(tmp_path_factory.mktemp("example") / "site")
    _run(site, "ingest")
    _run(site, "build")
    return site / "feeds"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_committed_feeds_match_a_fresh_build(built: Path) -> None:
    fresh, committed = _tree(built), _tree(REPO / "feeds")
    assert sorted(fresh) == sorted(committed), f"feeds/ is stale; regenerate with: {REGENERATE}"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"feeds/ is stale ({', '.join(stale)}); regenerate with: {REGENERATE}"


def test_every_example_feed_is_valid(built: Path) -> None:
    checks = {".rss": rss2_problems, ".atom": atom_problems, ".json": jsonfeed_problems}
    seen = 0
    for path in sorted(built.iterdir()):
        check = checks.get(path.suffix)
        if check is None:
            continue
        seen += 1
        assert not check(path.read_bytes()), (path.name, check(path.read_bytes()))
    assert seen == 21  # six categories and the all-articles feed, three formats each


def test_outside_items_from_local_files_credit_the_feed_s_own_public_url(built: Path) -> None:
    rss = etree.fromstring((built / "energy.rss").read_bytes())
    sources = rss.findall("channel/item/source")
    assert sources, "the Energy feed mixes in the observatory's items"
    # The configured URL is a local path; readers get the URL the feed gives for itself.
    assert {s.get("url") for s in sources} == {"https://observatory.example.org/feed.xml"}
    atom = etree.fromstring((built / "foreign-affairs.atom").read_bytes())
    links = atom.findall(f"{ATOM}entry/{ATOM}source/{ATOM}link[@rel='self']")
    assert links and {link.get("href") for link in links} == {"https://danube-review.example.net/atom.xml"}
    items = json.loads((built / "energy.json").read_text())["items"]
    outside = [i for i in items if "_source" in i]
    assert outside and all(i["_source"]["feed_url"].startswith("https://") for i in outside)


def test_a_local_source_without_a_self_link_is_credited_without_a_url(tmp_path: Path) -> None:
    site = copy_example_site(tmp_path / "example-site")
    feed = site / "example" / "sources" / "energy-observatory.rss.xml"
    text = feed.read_text(encoding="utf-8")
    feed.write_text("\n".join(line for line in text.splitlines() if "atom:link" not in line), encoding="utf-8")
    _run(site, "ingest")
    _run(site, "build")
    data = (site / "feeds" / "energy.rss").read_bytes()
    assert not rss2_problems(data)
    rss = etree.fromstring(data)
    assert rss.findall("channel/item/source") == []
    credited = {c.text for c in rss.iter("{http://purl.org/dc/elements/1.1/}source")}
    assert credited == {"Energy Transition Observatory"}
    assert "example/sources" not in data.decode()
    atom = (site / "feeds" / "energy.atom").read_bytes()
    assert not atom_problems(atom)
    assert b"example/sources" not in atom
