"""Fetching one outside feed over HTTP(S), or from a local file, with every limit enforced.

Conditional GET, gzip/deflate decoded here under a size limit (so a gzip bomb stops at
``max_bytes`` of output), connect/read timeouts plus a total deadline, and redirects
followed by hand so a loop, a hop limit and a permanent move can be told apart.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from .config import IngestConfig
from .errors import IngestError

REDIRECTS = (301, 302, 303, 307, 308)
PERMANENT_REDIRECTS = (301, 308)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/rdf+xml;q=0.8, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


def user_agent() -> str:
    try:
        release = version("syndicate")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
        release = "dev"
    return f"syndicate/{release} (feed ingester)"


class FetchError(IngestError):
    """A fetch failed; ``str()`` is the one-line reason.

    ``gone`` (HTTP 410) disables the source; ``retry_after`` is the server's requested
    wait in seconds (429/503); ``status`` is the HTTP status when there was one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None, gone: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.gone = gone


@dataclass(frozen=True)
class Fetched:
    """A fetched document (``status`` 200) or a 304 Not Modified (``body`` empty)."""

    status: int
    url: str
    """Final URL after redirects."""
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers, lower-case names."""
    moved_to: str | None = None
    """New URL when every redirect on the way was permanent (301/308)."""
    etag: str | None = None
    last_modified: str | None = None


def make_client(settings: IngestConfig) -> httpx.Client:
    """An HTTP client shared by every worker thread (httpx clients are thread-safe)."""
    return httpx.Client(
        follow_redirects=False,
        headers={"User-Agent": user_agent(), "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
        limits=httpx.Limits(max_connections=max(settings.workers, 1) * 2, max_keepalive_connections=settings.workers),
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
    )


def is_local(url: str) -> bool:
    """True when a source URL names a local file (a path, or a file: URL) rather than http(s)."""
    scheme = urlsplit(url).scheme.lower()
    return scheme == "file" or len(scheme) <= 1  # one letter: a Windows drive


def fetch(
    url: str,
    *,
    client: httpx.Client,
    settings: IngestConfig,
    etag: str | None = None,
    last_modified: str | None = None,
    root: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Fetched:
    """Fetch ``url`` (http(s) or a local path, relative to ``root``); raise FetchError on any failure."""
    if is_local(url):
        return _read_local(url, root=root or Path.cwd(), settings=settings, etag=etag)
    deadline = clock() + settings.deadline
    current = url
    seen = {url}
    permanent = True
    moved_to = None
    conditional: dict[str, str] = {}
    if etag:
        conditional["If-None-Match"] = etag
    if last_modified:
        conditional["If-Modified-Since"] = last_modified
    for _hop in range(settings.max_redirects + 1):
        remaining = deadline - clock()
        if remaining <= 0:
            raise FetchError(f"gave up after the {settings.deadline:g}s deadline")
        timeout = httpx.Timeout(
            connect=min(settings.connect_timeout, remaining),
            read=min(settings.read_timeout, remaining),
            write=min(settings.read_timeout, remaining),
            pool=remaining,
        )
        try:
            with client.stream("GET", current, headers=conditional, timeout=timeout) as response:
                status = response.status_code
                if status in REDIRECTS and response.headers.get("location"):
                    target = urljoin(current, response.headers["location"])
                    if urlsplit(target).scheme.lower() not in ("http", "https"):
                        raise FetchError(f"redirect to a non-HTTP URL: {target[:200]}", status=status)
                    if target in seen:
                        raise FetchError(f"redirect loop at {target[:200]}", status=status)
                    seen.add(target)
                    permanent = permanent and status in PERMANENT_REDIRECTS
                    if permanent:
                        moved_to = target
                    current = target
                    continue
                headers = {k.lower(): v for k, v in response.headers.items()}
                if status == 304:
                    return Fetched(
                        304, current, b"", headers, moved_to, headers.get("etag") or etag,
                        headers.get("last-modified") or last_modified,
                    )  # fmt: skip
                if not 200 <= status < 300:
                    raise _status_error(response)
                body = _read_body(response, settings=settings, deadline=deadline, clock=clock)
                return Fetched(
                    status, current, body, headers, moved_to, headers.get("etag"), headers.get("last-modified")
                )
        except httpx.HTTPError as exc:
            raise FetchError(_describe(exc, current, settings)) from None
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL {current[:200]!r}: {exc}") from None
    raise FetchError(f"too many redirects (more than {settings.max_redirects})")


def _status_error(response: httpx.Response) -> FetchError:
    status = response.status_code
    reason = response.reason_phrase or ""
    label = f"HTTP {status} {reason}".strip()
    if status == 410:
        return FetchError(f"{label}: the feed is gone; source disabled until its URL changes", status=410, gone=True)
    if status in (429, 503):
        retry = _retry_after(response.headers.get("retry-after"), response.headers.get("date"))
        hint = f" (server asks to retry after {retry:g}s)" if retry is not None else ""
        return FetchError(label + hint, status=status, retry_after=retry)
    return FetchError(label, status=status)


def _retry_after(value: str | None, date: str | None) -> float | None:
    """Seconds to wait: Retry-After is a number of seconds or an HTTP date (read against the response's Date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None
    if sent is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return max(0.0, (when - sent).total_seconds())


def _read_body(
    response: httpx.Response, *, settings: IngestConfig, deadline: float, clock: Callable[[], float]
) -> bytes:
    limit = settings.max_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"response too large: {int(declared):,} bytes (limit {limit:,})")
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported Content-Encoding {encoding!r}")
    decoder = _Decoder(encoding, limit)
    received = 0
    chunks: list[bytes] = []
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > limit:
            raise FetchError(f"response too large: over {limit:,} bytes")
        chunks.append(decoder.feed(chunk))
        if clock() > deadline:
            raise FetchError(f"gave up after the {settings.deadline:g}s deadline (server too slow)")
    chunks.append(decoder.finish())
    body = b"".join(chunks)
    # Some servers send gzip files without saying so; undo it under the same limit.
    if encoding in ("", "identity") and body[:2] == b"\x1f\x8b":
        body = _Decoder("gzip", limit).feed(body)
    return body


class _Decoder:
    """Streaming gzip/deflate decoding that refuses to produce more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = "gzip" if encoding == "x-gzip" else encoding
        self.limit = limit
        self.produced = 0
        self.engine: zlib._Decompress | None = None
        self.pending = b""

    def feed(self, data: bytes) -> bytes:
        if self.encoding in ("", "identity"):
            self.produced += len(data)
            self._check()
            return data
        return b"".join(self._inflate(data))

    def finish(self) -> bytes:
        if self.encoding == "deflate" and self.engine is None and self.pending:
            return b"".join(self._inflate(b"", final=True))
        return b""

    def _inflate(self, data: bytes, final: bool = False) -> Iterator[bytes]:
        if self.engine is None:
            if self.encoding == "deflate":
                # "deflate" should be zlib-wrapped, but some servers send raw deflate.
                self.pending += data
                if len(self.pending) < 2 and not final:
                    return
                data, self.pending = self.pending, b""
                wrapped = len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
                self.engine = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            else:
                self.engine = zlib.decompressobj(zlib.MAX_WBITS | 16)
        while data:
            try:
                out = self.engine.decompress(data, self.limit - self.produced + 1)
            except zlib.error as exc:
                raise FetchError(f"corrupt {self.encoding} data: {exc}") from None
            self.produced += len(out)
            self._check()
            yield out
            if self.engine.unconsumed_tail:
                data = self.engine.unconsumed_tail
            elif self.engine.eof and self.engine.unused_data and self.encoding == "gzip":
                # Concatenated gzip members are one body.
                data = self.engine.unused_data
                self.engine = zlib.decompressobj(zlib.MAX_WBITS | 16)
            else:
                data = b""

    def _check(self) -> None:
        if self.produced > self.limit:
            raise FetchError(f"response too large: decompresses to over {self.limit:,} bytes")


def _describe(exc: httpx.HTTPError, url: str, settings: IngestConfig) -> str:
    host = urlsplit(url).netloc or url
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return f"could not connect to {host} within {settings.connect_timeout:g}s"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {host} within the read timeout ({settings.read_timeout:g}s)"
    if isinstance(exc, httpx.ConnectError):
        lowered = text.lower()
        if "name or service not known" in lowered or "nodename nor servname" in lowered or "name resolution" in lowered:
            return f"DNS lookup failed for {urlsplit(url).hostname}"
        if "refused" in lowered:
            return f"connection refused by {host}"
        return f"could not connect to {host}: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{host} broke the HTTP protocol: {text}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL scheme in {url[:200]!r}"
    return f"network error talking to {host}: {text}"


def _read_local(url: str, *, root: Path, settings: IngestConfig, etag: str | None) -> Fetched:
    parts = urlsplit(url)
    path = Path(unquote(parts.path)) if parts.scheme.lower() == "file" else Path(url)
    if not path.is_absolute():
        path = root / path
    try:
        info = path.stat()
        if info.st_size > settings.max_bytes:
            raise FetchError(f"{path}: file too large: {info.st_size:,} bytes (limit {settings.max_bytes:,})")
        # mtime and size stand in for an ETag: an untouched file costs nothing.
        validator = f"file:{info.st_mtime_ns}:{info.st_size}"
        if validator == etag:
            return Fetched(304, path.as_uri(), etag=validator)
        with path.open("rb") as handle:
            body = handle.read(settings.max_bytes + 1)
    except FileNotFoundError:
        raise FetchError(f"{path}: file not found") from None
    except OSError as exc:
        raise FetchError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(body) > settings.max_bytes:
        raise FetchError(f"{path}: file too large (limit {settings.max_bytes:,} bytes)")
    if body[:2] == b"\x1f\x8b":
        body = _Decoder("gzip", settings.max_bytes).feed(body)
    return Fetched(200, path.as_uri(), body, {}, None, validator)
