"""Category slugs: readable ASCII, stable through pinning, collision-free whatever the input order."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from syndicate.categories import build_categories, category_slug
from syndicate.config import Config, parse_config
from syndicate.errors import ConfigError

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def make_config(tmp_path: Path, **sections: Any) -> Config:
    raw: dict[str, Any] = {"site": {"title": "Ledger", "url": "https://example.org/"}}
    raw.update(sections)
    return parse_config(raw, tmp_path / "syndicate.toml")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Économie", "economie"),
        ("Türkiye", "turkiye"),
        ("Азербайджан", "azerbaydzhan"),
        ("EU policy", "eu-policy"),
        ("  Foreign   affairs! ", "foreign-affairs"),
        ("Ελλάδα", "ellada"),
        ("中国", "zhongguo"),
        ("Straße & Co.", "strasse-co"),
        ("C++/C#", "c-c"),
    ],
)
def test_category_slug_readable_ascii(name: str, slug: str) -> None:
    assert category_slug(name) == slug


@pytest.mark.parametrize("name", ["", "!!!", "—", "   "])
def test_category_slug_without_letters_is_hash_based_and_distinct(name: str) -> None:
    slug = category_slug(name)
    assert SLUG.match(slug) and slug.startswith("c-")
    assert slug != category_slug(name + "?") or name + "?" == name


def test_category_slug_long_names_are_cut_at_a_hyphen() -> None:
    slug = category_slug("The European Union's common agricultural policy and its reform after twenty twenty seven")
    assert len(slug) <= 60 and SLUG.match(slug) and not slug.endswith("-")
    assert slug.startswith("the-european-union-s-common-agricultural-policy")


def test_build_categories_distinct_readable_slugs_for_unicode_names(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    categories = build_categories(config, ["Économie", "Türkiye", "Азербайджан"], {})
    assert {c.name: c.slug for c in categories} == {
        "Économie": "economie",
        "Türkiye": "turkiye",
        "Азербайджан": "azerbaydzhan",
    }
    assert all(c.title == c.name for c in categories)


def test_build_categories_collisions_resolved_independently_of_input_order(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    names = ["Economy", "economy", "ECONOMY!", "Économy", "Energy"]
    results = set()
    for seed in range(20):
        shuffled = names[:]
        random.Random(seed).shuffle(shuffled)
        categories = build_categories(config, shuffled, {})
        results.add(tuple((c.name, c.slug) for c in categories))
    assert len(results) == 1
    slugs = {name: slug for name, slug in results.pop()}
    assert len(set(slugs.values())) == len(names)
    # The first name in sort order keeps the plain slug; the others get a hash suffix of their name.
    assert slugs["ECONOMY!"] == "economy"
    for name in ("Economy", "economy", "Économy"):
        assert re.fullmatch(r"economy-[0-9a-f]{6}", slugs[name])
    assert slugs["Energy"] == "energy"


def test_build_categories_pinned_slug_wins_over_a_new_claimant(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    # "economy" was published first and pinned; "Economy" arrives later and sorts before it.
    categories = build_categories(config, ["economy", "Economy"], {"economy": "economy"})
    slugs = {c.name: c.slug for c in categories}
    assert slugs["economy"] == "economy"
    assert slugs["Economy"].startswith("economy-")


def test_build_categories_pinned_slug_survives_a_rename_rule_change(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    categories = build_categories(config, ["Économie"], {"Économie": "economie-fr"})
    assert [c.slug for c in categories] == ["economie-fr"]


def test_build_categories_keeps_pinned_categories_without_articles(tmp_path: Path) -> None:
    config = make_config(tmp_path, categories={"Opinion": {"title": "Opinion & comment"}})
    categories = build_categories(config, ["EU"], {"Energy": "energy"})
    assert [c.name for c in categories] == ["Energy", "EU", "Opinion"]
    assert {c.name: c.slug for c in categories} == {"EU": "eu", "Energy": "energy", "Opinion": "opinion"}


def test_build_categories_reserved_slugs_get_a_suffix(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    categories = build_categories(config, ["All", "Index", "Feed", "Opinion"], {"Opinion": "all"})
    slugs = {c.name: c.slug for c in categories}
    for name in ("All", "Index", "Feed", "Opinion"):
        assert slugs[name] not in {"all", "index", "feed"}
        assert SLUG.match(slugs[name])
    assert len(set(slugs.values())) == 4


def test_build_categories_config_title_description_order_and_slug(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        categories={
            "Opinion": {"order": 2, "description": "Comment"},
            "EU policy": {"order": 1, "title": "EU Policy", "slug": "eu"},
        },
    )
    categories = build_categories(config, ["Zeta", "Opinion", "alpha", "EU policy"], {"EU policy": "eu-policy"})
    assert [c.name for c in categories] == ["EU policy", "Opinion", "alpha", "Zeta"]
    assert [c.order for c in categories] == [0, 1, 2, 3]
    eu = categories[0]
    assert (eu.slug, eu.title) == ("eu", "EU Policy")
    assert categories[1].description == "Comment"


def test_build_categories_configured_reserved_slug_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, categories={"Everything": {"slug": "all"}})
    with pytest.raises(ConfigError, match=r"categories\.Everything\.slug: 'all' is reserved"):
        build_categories(config, ["Everything"], {})


def test_build_categories_two_configured_slugs_clash(tmp_path: Path) -> None:
    config = make_config(tmp_path, categories={"A": {"slug": "same"}, "B": {"slug": "same"}})
    with pytest.raises(ConfigError, match="'same' is also the slug of category 'A'"):
        build_categories(config, ["A", "B"], {})
