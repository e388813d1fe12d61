"""URL normalisation for duplicate detection.

``normalise_url`` turns a URL into a comparison key: two links to the same story
(one from each of two sources, or one to our own article) give the same key. The key
is still a URL, but it is meant for comparing, not for fetching or showing.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str) -> str:
    """The comparison key of ``url``.

    Lower-cases scheme and host, drops default ports, ``utm_*`` parameters, the
    fragment and trailing slashes, sorts the remaining query parameters and
    normalises percent-escapes. Text that is not an absolute URL is returned stripped.

    >>> normalise_url("HTTPS://Example.COM:443/a/b/?utm_source=x&b=2&a=1#top")
    'https://example.com/a/b?a=1&b=2'
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname:
        return text
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    # Credentials never identify a story; leaving them out also keeps them out of the store.
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~")
    path = path.rstrip("/")
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_")
    ]
    return urlunsplit((scheme, host, path, urlencode(sorted(query)), ""))
