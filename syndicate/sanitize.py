"""Allowlist sanitizing of HTML from outside feeds (nh3, the ammonia library).

Everything not listed is dropped: no script, style, iframe, object or embed, no
event-handler or style attributes, and only http(s) and mailto URLs, so no
``javascript:`` or ``data:``. Relative URLs are resolved against the document's base.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import nh3

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "details", "dfn", "div",
        "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
        "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary",
        "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"lang", "dir", "title"},
    "a": {"href"},
    "abbr": {"title"},
    "blockquote": {"cite"},
    "del": {"cite", "datetime"},
    "img": {"src", "alt", "width", "height"},
    "ins": {"cite", "datetime"},
    "q": {"cite"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Dropped together with everything inside them, not just unwrapped.
REMOVED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math"}
)

_SPACE = re.compile(r"\s+")
# XML 1.0 forbids these; they make every feed that would carry them unreadable.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def sanitize_html(fragment: str, *, base_url: str | None = None) -> str:
    """``fragment`` reduced to the allowlist, with relative URLs made absolute against ``base_url``.

    Without an http(s) ``base_url``, relative URLs are removed rather than left dangling.
    """
    if not fragment:
        return ""
    web_base = base_url is not None and is_web_url(base_url)
    cleaned = nh3.clean(
        _XML_ILLEGAL.sub("", fragment),
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(REMOVED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        url_relative=("rewrite_with_base", base_url) if web_base and base_url else "deny",
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return cleaned.strip()


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed."""
    if not fragment:
        return ""
    stripped = nh3.clean(_XML_ILLEGAL.sub("", fragment), tags=set(), clean_content_tags=set(REMOVED_WITH_CONTENT))
    return _SPACE.sub(" ", _XML_ILLEGAL.sub("", html.unescape(stripped))).strip()


def clean_text(text: str) -> str:
    """Plain text with XML-illegal characters removed and whitespace collapsed."""
    return _SPACE.sub(" ", _XML_ILLEGAL.sub("", text)).strip()


def text_to_html(text: str) -> str:
    """Plain text as an HTML fragment: escaped, blank lines become paragraphs."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", _XML_ILLEGAL.sub("", text)) if p.strip()]
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def truncate_text(text: str, limit: int = 300) -> str:
    """``text`` cut at a word boundary near ``limit`` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"
