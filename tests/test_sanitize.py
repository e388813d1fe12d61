"""The allowlist sanitizer for outside HTML, and the plain-text helpers."""

from __future__ import annotations

import pytest

from syndicate.sanitize import html_to_text, sanitize_html, truncate_text

BASE = "https://outside.example.com/news/feed.xml"


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p>Hi<script>alert(1)</script></p>", "<p>Hi</p>"),
        ("<style>p{color:red}</style><p>x</p>", "<p>x</p>"),
        ('<iframe src="https://evil.example/"></iframe><p>x</p>', "<p>x</p>"),
        ('<object data="x.swf"><embed src="x.swf"></object>ok', "ok"),
        ('<p onclick="steal()" style="color:red" class="c">x</p>', "<p>x</p>"),
        ('<img src="x.png" onerror="steal()" alt="A">', '<img src="https://outside.example.com/news/x.png" alt="A">'),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<img src="data:image/png;base64,AAAA">', "<img>"),
        (
            '<a href="/about">x</a>',
            '<a href="https://outside.example.com/about" rel="noopener noreferrer nofollow">x</a>',
        ),
        (
            '<a href="mailto:desk@example.com">m</a>',
            '<a href="mailto:desk@example.com" rel="noopener noreferrer nofollow">m</a>',
        ),
        ("<svg><script>alert(1)</script></svg>after", "after"),
        ("<form><input name=x></form>text", "text"),
        ("<p>a\x00b\x0bc</p>", "<p>abc</p>"),
        ("<!-- comment --><b>bold</b>", "<b>bold</b>"),
    ],
)
def test_sanitize_html_allowlist(dirty: str, clean: str) -> None:
    assert sanitize_html(dirty, base_url=BASE) == clean


def test_sanitize_html_without_web_base_drops_relative_urls() -> None:
    assert sanitize_html('<a href="/x">x</a>', base_url="file:///tmp/feed.xml") == (
        '<a rel="noopener noreferrer nofollow">x</a>'
    )


def test_html_to_text_and_truncate() -> None:
    assert html_to_text("<p>Fish &amp; <b>chips</b><script>x()</script></p>\n\n<p>again</p>") == "Fish & chips again"
    assert truncate_text("short") == "short"
    cut = truncate_text("word " * 100, 50)
    assert cut.endswith("…") and len(cut) <= 51 and " wor…" not in cut
