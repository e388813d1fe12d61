"""``syndicate.toml``: read with tomllib, validated into frozen dataclasses.

Unknown keys are errors with a "did you mean" hint; relative paths resolve against
the folder holding the config file, never against the working directory.
"""

from __future__ import annotations

import difflib
import string
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .schedule import parse_schedule

CONFIG_FILENAME = "syndicate.toml"
FEED_FORMATS = ("rss", "atom", "json")
SHARE_NETWORKS = ("facebook", "x", "linkedin", "whatsapp", "telegram", "reddit", "email")


@dataclass(frozen=True)
class SiteConfig:
    title: str
    url: str
    """Base URL of the site, with a trailing slash."""
    description: str = ""
    language: str = "en"
    timezone: str = "UTC"
    """IANA zone name; used for date-only and naive record times and for display."""
    author: str = ""
    """Default author name for records that name none."""
    author_email: str = ""
    logo: str = ""
    tag_authority: str = ""
    """Authority of tag: URIs (RFC 4151); default: the host of ``url``."""
    tag_date: str = ""
    """Date part of every tag: URI (RFC 4151), e.g. ``2026-09-01``; default: each record's own
    ``date`` as written (YYYY-MM-DD), and for an outside item whose guid is not a URI, the year
    syndicate first saw it. Pinned ids never change either way once published."""


@dataclass(frozen=True)
class RecordsConfig:
    paths: tuple[Path, ...] = (Path("articles"),)
    permalink: str = "/{category}/{slug}/"
    """Path pattern for records without ``url``: {category}, {slug}, {id}, {year}, {month}, {day}."""


@dataclass(frozen=True)
class FeedsConfig:
    output: Path = Path("feeds")
    url: str = ""
    """Public URL of the output folder; default: ``<site url>feeds/``."""
    formats: tuple[str, ...] = FEED_FORMATS
    items: int = 50
    content: str = "full"
    """``full``: the whole article in feeds; ``summary``: summary only."""
    all_feed: bool = True
    all_title: str = "All articles"
    all_slug: str = "all"
    category_url: str = "category/{slug}/"
    """A category's page on the site (the feeds' alternate link), relative to the site URL; ``{slug}``."""
    stylesheet: bool = True
    """Reference an XSL stylesheet from RSS and Atom so browsers show a readable page."""
    hub: str = ""
    """WebSub hub URL; empty: no hub."""
    hub_timeout: float = 10.0
    archives: bool = False
    """Write RFC 5005 archive documents holding every older item."""
    archive_size: int = 50


@dataclass(frozen=True)
class CategoryConfig:
    title: str = ""
    description: str = ""
    order: int | None = None
    slug: str = ""


@dataclass(frozen=True)
class DigestConfig:
    subject: str = "{site}: {count} new articles — {date}"
    max_items: int = 25
    max_age_days: float = 7.0
    related: int = 3
    send_when_empty: bool = False
    schedule: tuple[str, ...] = ()
    """E.g. ``daily at 07:00``, ``weekly on monday at 07:00``; site timezone."""
    from_name: str = ""
    from_address: str = ""
    reply_to: str = ""
    list_id: str = ""
    subscribers: Path = Path("subscribers.csv")
    unsubscribe_url: str = ""
    """https URL; ``{email}`` and ``{token}`` are filled in per recipient."""
    unsubscribe_mailto: str = ""
    unsubscribe_secret_env: str = "SYNDICATE_UNSUBSCRIBE_SECRET"
    share_networks: tuple[str, ...] = SHARE_NETWORKS
    utm_source: str = ""
    """Empty: no UTM parameters on article links."""
    utm_medium: str = "email"
    utm_campaign: str = "digest-{date}"
    utm_in_share_links: bool = False
    preheader: str = ""
    disclaimer: str = ""
    postal_address: str = ""
    view_in_browser_url: str = ""
    web_section_title: str = "From around the web"
    max_html_bytes: int = 90_000
    """Kept well under Gmail's ~102 KB clipping point: headers and the per-recipient link add a little."""
    rate_limit: float = 0.0
    """Messages per second; 0: no limit."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    """``starttls``, ``tls`` (implicit) or ``none``."""
    username: str = ""
    password_env: str = "SYNDICATE_SMTP_PASSWORD"
    timeout: float = 30.0
    retries: int = 3
    outbox: Path | None = None
    """Write messages as .eml files into this folder instead of sending them (trying a site, staging)."""


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str
    categories: tuple[str, ...] = ()
    mix: tuple[str, ...] = ("feeds", "digest")
    full_content: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_items: int = 100
    max_age_days: float = 30.0
    interval_minutes: float = 0.0
    all_feed: bool = True


@dataclass(frozen=True)
class IngestConfig:
    workers: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_backoff_minutes: float = 24 * 60.0


@dataclass(frozen=True)
class Config:
    path: Path
    """The config file itself (absolute)."""
    site: SiteConfig
    records: RecordsConfig = field(default_factory=RecordsConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    categories: dict[str, CategoryConfig] = field(default_factory=dict)
    digest: DigestConfig = field(default_factory=DigestConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    sources: tuple[SourceConfig, ...] = ()
    ingest: IngestConfig = field(default_factory=IngestConfig)
    state_dir: Path = Path(".syndicate")
    templates: Path | None = None
    """Template override folder; default: ``<root>/templates`` if it exists."""

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    @property
    def feeds_url(self) -> str:
        return self.feeds.url or self.site.url + "feeds/"

    @property
    def state_path(self) -> Path:
        return self.state_dir / "state.db"

    @property
    def template_dirs(self) -> tuple[Path, ...]:
        if self.templates is not None:
            return (self.templates,)
        default = self.root / "templates"
        return (default,) if default.is_dir() else ()


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate ``path``; raise ConfigError naming the file and key."""
    path = Path(path).absolute()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (create one with 'syndicate init')") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    """Validate an already-parsed TOML mapping; ``path`` names the file in errors."""
    path = Path(path).absolute()
    loader = _Loader(path)
    raw = dict(raw)
    raw["path"] = path
    config = loader.build(Config, raw, "")
    _check_semantics(config, path)
    return config


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


class _Loader:
    """Builds dataclasses from TOML tables, checking keys and types."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = path.parent

    def fail(self, where: str, message: str) -> typing.NoReturn:
        raise ConfigError(f"{self.path}: {where}: {message}" if where else f"{self.path}: {message}")

    def build(self, cls: type, table: Any, where: str) -> Any:
        if not isinstance(table, dict):
            self.fail(where, f"expected a table, got {type(table).__name__}")
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                hint = difflib.get_close_matches(key, [k for k in known if k != "path"], n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.fail("", f"unknown key '{_join(where, key)}'{suggestion}")
            values[key] = self.convert(hints[key], value, _join(where, key))
        for name, f in known.items():
            if name not in values and f.default is MISSING and f.default_factory is MISSING:
                self.fail("", f"missing required key '{_join(where, name)}'")
        return cls(**values)

    def convert(self, hint: Any, value: Any, where: str) -> Any:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            return self.convert(inner[0], value, where)
        if hint is Path:
            if isinstance(value, Path):
                return value
            if not isinstance(value, str) or not value:
                self.fail("", f"'{where}' must be a path string")
            return (self.root / value).resolve()
        if hint is bool:
            if not isinstance(value, bool):
                self.fail("", f"'{where}' must be true or false, got {value!r}")
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail("", f"'{where}' must be an integer, got {value!r}")
            return value
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.fail("", f"'{where}' must be a number, got {value!r}")
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                self.fail("", f"'{where}' must be a string, got {value!r}")
            return value
        if origin is tuple:
            item_type = args[0]
            if isinstance(value, str) and item_type in (str, Path):
                value = [value]
            if not isinstance(value, list | tuple):
                self.fail("", f"'{where}' must be a list")
            return tuple(self.convert(item_type, v, f"{where}[{i}]") for i, v in enumerate(value))
        if origin is dict:
            if not isinstance(value, dict):
                self.fail("", f"'{where}' must be a table")
            return {k: self.convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
        if is_dataclass(hint):
            return self.build(typing.cast(type, hint), value, where)
        raise TypeError(f"unsupported config type {hint!r}")  # pragma: no cover - programming error


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _check_semantics(config: Config, path: Path) -> None:
    def fail(message: str) -> typing.NoReturn:
        raise ConfigError(f"{path}: {message}")

    url = urlsplit(config.site.url)
    if url.scheme not in ("http", "https") or not url.netloc:
        fail(f"site.url must be an absolute http(s) URL, got {config.site.url!r}")
    if not config.site.url.endswith("/"):
        object.__setattr__(config.site, "url", config.site.url + "/")
    if config.feeds.url:
        feeds_url = urlsplit(config.feeds.url)
        if feeds_url.scheme not in ("http", "https") or not feeds_url.netloc:
            fail(f"feeds.url must be an absolute http(s) URL, got {config.feeds.url!r}")
        if not config.feeds.url.endswith("/"):
            object.__setattr__(config.feeds, "url", config.feeds.url + "/")
    try:
        ZoneInfo(config.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"site.timezone: unknown time zone {config.site.timezone!r} (use an IANA name such as 'Europe/Brussels')")
    for fmt in config.feeds.formats:
        if fmt not in FEED_FORMATS:
            hint = difflib.get_close_matches(fmt, FEED_FORMATS, n=1)
            fail(f"feeds.formats: unknown format {fmt!r}" + (f" (did you mean '{hint[0]}'?)" if hint else ""))
    if config.feeds.items < 1:
        fail("feeds.items must be at least 1")
    if config.feeds.content not in ("full", "summary"):
        fail(f"feeds.content must be 'full' or 'summary', got {config.feeds.content!r}")
    if config.feeds.archive_size < 1:
        fail("feeds.archive_size must be at least 1")
    for network in config.digest.share_networks:
        if network not in SHARE_NETWORKS:
            fail(f"digest.share_networks: unknown network {network!r} (known: {', '.join(SHARE_NETWORKS)})")
    try:
        parse_schedule(config.digest.schedule, config.site.timezone)
    except ConfigError as exc:
        fail(str(exc))
    if config.smtp.security not in ("starttls", "tls", "none"):
        fail(f"smtp.security must be 'starttls', 'tls' or 'none', got {config.smtp.security!r}")
    names: set[str] = set()
    for i, source in enumerate(config.sources):
        if source.name in names:
            fail(f"sources[{i}].name: duplicate source name {source.name!r}")
        names.add(source.name)
        for mix in source.mix:
            if mix not in ("feeds", "digest"):
                fail(f"sources[{i}].mix: expected 'feeds' and/or 'digest', got {mix!r}")
    if "{" in config.records.permalink:
        allowed = {"category", "slug", "id", "year", "month", "day"}
        for _, name, _, _ in string.Formatter().parse(config.records.permalink):
            if name is not None and name not in allowed:
                fail(f"records.permalink: unknown placeholder {{{name}}} (known: {', '.join(sorted(allowed))})")
    # Defaults are relative too: anchor them to the config's folder like explicit values.
    root = config.root

    def anchored(p: Path) -> Path:
        return p if p.is_absolute() else (root / p).resolve()

    object.__setattr__(config, "state_dir", anchored(config.state_dir))
    object.__setattr__(config.records, "paths", tuple(anchored(p) for p in config.records.paths))
    object.__setattr__(config.feeds, "output", anchored(config.feeds.output))
    object.__setattr__(config.digest, "subscribers", anchored(config.digest.subscribers))
    if config.smtp.outbox is not None:
        object.__setattr__(config.smtp, "outbox", anchored(config.smtp.outbox))
