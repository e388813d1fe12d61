"""Share links and link tracking for the digest: pure functions over URLs.

Every share URL is built from its network's documented share endpoint with each
parameter percent-encoded on its own (``quote(..., safe="")``), so an article URL that
carries its own query string or fragment survives the trip intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

NETWORK_LABELS = {
    "facebook": "Facebook",
    "x": "X",
    "linkedin": "LinkedIn",
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "reddit": "Reddit",
    "email": "Email",
}


@dataclass(frozen=True)
class ShareLink:
    network: str
    label: str
    url: str


def _q(text: str) -> str:
    return quote(text, safe="")


def share_url(network: str, url: str, title: str) -> str:
    """The share URL of ``url`` (titled ``title``) on ``network`` (one of NETWORK_LABELS)."""
    if network == "facebook":
        return f"https://www.facebook.com/sharer/sharer.php?u={_q(url)}"
    if network == "x":
        return f"https://x.com/intent/tweet?url={_q(url)}&text={_q(title)}"
    if network == "linkedin":
        return f"https://www.linkedin.com/sharing/share-offsite/?url={_q(url)}"
    if network == "whatsapp":
        return f"https://wa.me/?text={_q(f'{title} {url}')}"
    if network == "telegram":
        return f"https://t.me/share/url?url={_q(url)}&text={_q(title)}"
    if network == "reddit":
        return f"https://www.reddit.com/submit?url={_q(url)}&title={_q(title)}"
    if network == "email":
        # RFC 6068: mailto header values are percent-encoded; spaces as %20, never '+'.
        body = title + "\n\n" + url
        return f"mailto:?subject={_q(title)}&body={_q(body)}"
    raise ValueError(f"unknown share network {network!r}")


def share_links(networks: tuple[str, ...] | list[str], url: str, title: str) -> tuple[ShareLink, ...]:
    return tuple(ShareLink(n, NETWORK_LABELS[n], share_url(n, url, title)) for n in networks)


def add_utm(url: str, *, source: str, medium: str, campaign: str) -> str:
    """``url`` with ``utm_source``/``utm_medium``/``utm_campaign`` added to its query.

    The existing query string (order, repeated keys, blank values) and the fragment are
    kept; a ``utm_*`` parameter the URL already carries wins over ours. Non-http(s) URLs
    (mailto:, tel:) are returned unchanged.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not source:
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    extra = [(k, v) for k, v in (("utm_source", source), ("utm_medium", medium), ("utm_campaign", campaign)) if v]
    added = [(k, v) for k, v in extra if k not in present]
    if not added:
        return url
    tail = urlencode(added, quote_via=quote)
    new_query = f"{parts.query}&{tail}" if parts.query else tail
    return urlunsplit((parts.scheme, parts.netloc, parts.path, new_query, parts.fragment))
