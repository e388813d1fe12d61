"""URL normalisation used to spot the same story under different spellings of its URL."""

from __future__ import annotations

import pytest

from syndicate.urlnorm import normalise_url


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTPS://Example.COM/story", "https://example.com/story"),
        ("https://example.com:443/story", "https://example.com/story"),
        ("http://example.com:80/story", "http://example.com/story"),
        ("https://example.com/story/", "https://example.com/story"),
        ("https://example.com/story#comments", "https://example.com/story"),
        ("https://example.com/story?utm_source=rss&utm_medium=feed&UTM_Campaign=x", "https://example.com/story"),
        ("https://example.com/story?b=2&utm_source=x&a=1", "https://example.com/story?a=1&b=2"),
        ("https://example.com/caf%c3%a9", "https://example.com/café"),
        ("https://example.com", "https://example.com/"),
        ("https://user:pw@example.com/x", "https://example.com/x"),
    ],
)
def test_normalise_url_same_story(a: str, b: str) -> None:
    assert normalise_url(a) == normalise_url(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/story", "https://example.com/Story"),
        ("https://example.com/story?id=1", "https://example.com/story?id=2"),
        ("https://example.com:8443/story", "https://example.com/story"),
        ("https://example.com/story", "https://other.example.com/story"),
    ],
)
def test_normalise_url_different_stories(a: str, b: str) -> None:
    assert normalise_url(a) != normalise_url(b)


def test_normalise_url_leaves_non_urls_alone() -> None:
    assert normalise_url("  not a url ") == "not a url"
    assert normalise_url("http://[bad") == "http://[bad"
