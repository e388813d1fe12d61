"""Article records: read from the configured folders, validated into Articles.

Formats: ``*.md`` (YAML front matter + CommonMark body), ``*.json`` (an object or an
array), ``*.jsonl`` (one object per line), ``*.yaml``/``*.yml`` (a mapping or a list).
Every problem is collected (not only the first) as ``PATH:LINE: FIELD: message``.

Speed matters here (a site may hold 100,000 records): a record is first parsed into a
compact tuple of plain values (cheap to cache and to send between processes), and only
turned into an :class:`Article` when needed. Markdown bodies are never kept in memory: an
Article points at the file and the byte offset where its body starts.
"""

from __future__ import annotations

import json
import marshal
import mimetypes
import multiprocessing
import os
import pickle
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from html import unescape
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import quote, urljoin, urlsplit
from zoneinfo import ZoneInfo

import cmarkgfm
import yaml
from anyascii import anyascii
from cmarkgfm.cmark import Options as CmarkOptions
from markdown_it import MarkdownIt

from .cache import RecordCache, details_bytes, paused_gc
from .categories import category_slug
from .config import Config
from .model import EMPTY, Article, Author, Body, Image, Origin
from .xmlutil import clean_text

RECORD_SUFFIXES = (".md", ".json", ".jsonl", ".yaml", ".yml")
SUMMARY_LENGTH = 300
CACHE_VERSION = 5
"""Bump when the compact record layout or any parsing rule changes: old caches are dropped."""

KNOWN_FIELDS = frozenset(
    {
        "title", "date", "updated", "id", "slug", "url", "categories", "tags", "author", "authors",
        "summary", "image", "draft", "language", "body", "content_html", "featured",
    }
)  # fmt: skip

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Indexes into the compact record tuple. What choosing feed items and checking duplicates needs
# is kept as plain values; everything else is one marshalled ``bytes`` (R_DETAILS), a single
# allocation instead of dozens of small objects, unpacked only for records a feed shows.
R_KEY, R_ID, R_URL, R_PUB, R_FEED_ID, R_CATS, R_ORIGIN, R_DRAFT, R_DETAILS = range(9)

Rec = tuple[Any, ...]


@dataclass(frozen=True)
class RecordSet:
    """The outcome of reading every record: valid articles plus every problem found."""

    articles: tuple[Article, ...]
    """Every valid, non-draft record (future-dated ones included), ``feed_id`` derived, not pinned."""
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    records_read: int


@dataclass(frozen=True)
class RecordIndex:
    """Compact form of a :class:`RecordSet`: valid non-draft records as tuples (see ``R_*``)."""

    recs: tuple[Rec, ...]
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    records_read: int
    invalid_keys: frozenset[str]
    """Keys of records that had a problem of their own (left out of ``recs``)."""


# -- public API -----------------------------------------------------------------


def load_records(config: Config, *, cache: bool = True, jobs: int | None = None) -> RecordSet:
    """Read and validate every record under ``config.records.paths``.

    Never raises for a bad record: problems are collected in the result. ``cache`` keeps
    parsed records in ``config.state_dir`` keyed by file identity; ``jobs`` is the number
    of parsing processes (default: one per CPU).
    """
    index = load_record_index(config, cache=cache, jobs=jobs)
    return RecordSet(
        articles=tuple(rec_to_article(rec) for rec in index.recs),
        problems=index.problems,
        warnings=index.warnings,
        records_read=index.records_read,
    )


def load_record_index(
    config: Config,
    *,
    cache: bool = True,
    jobs: int | None = None,
    scanned: tuple[list[tuple[str, str, tuple[int, int, int]]], list[str]] | None = None,
) -> RecordIndex:
    """Like :func:`load_records`, but returns compact tuples (cheap for 100,000 records).

    ``scanned`` is the result of :func:`scan_record_files` when the caller already has it.
    """
    ctx = _ParseContext.from_config(config)
    files, warnings = scanned if scanned is not None else scan_record_files(config)
    with paused_gc():
        return _load_record_index(config, ctx, files, warnings, cache=cache, jobs=jobs)


def _load_record_index(
    config: Config,
    ctx: _ParseContext,
    files: list[tuple[str, str, tuple[int, int, int]]],
    warnings: list[str],
    *,
    cache: bool,
    jobs: int | None,
) -> RecordIndex:
    store = RecordCache(config.state_dir / "records.cache", ctx.fingerprint(), R_DETAILS) if cache else None
    cached = store.load() if store is not None else {}
    results: dict[str, tuple[Any, ...]] = {}
    todo: list[tuple[str, str, tuple[int, int, int]]] = []
    for rel, path, ident in files:
        hit = cached.get(rel)
        if hit is not None and hit[0] == ident:  # both tuples (marshal keeps them so)
            results[rel] = hit[1]  # a plain (recs, problems, count) tuple reads the same as a FileResult
        else:
            todo.append((rel, path, ident))
    for rel, result in _parse_many(ctx, todo, jobs):
        results[rel] = result
    if store is not None and (todo or len(cached) != len(files)):
        store.save(files, results, {rel for rel, _, _ in todo})
    index = _validate(config, [(rel, results[rel]) for rel, _, _ in files], warnings)
    return RecordIndex(
        recs=index[0],
        problems=index[1],
        warnings=index[2],
        records_read=index[3],
        invalid_keys=index[4],
    )


def rec_to_article(rec: Rec) -> Article:
    """Turn a compact record tuple into an :class:`Article` (``content_html`` None, body lazy)."""
    title, slug, updated, tags, authors, summary, body, image, language, extra, featured = marshal.loads(
        details_bytes(rec[R_DETAILS])
    )
    return Article(
        key=rec[R_KEY],
        id=rec[R_ID],
        feed_id=rec[R_FEED_ID],
        title=title,
        url=rec[R_URL],
        slug=slug,
        published=from_micros(rec[R_PUB]),
        updated=from_micros(updated),
        categories=rec[R_CATS],
        tags=tags,
        authors=tuple(Author(*a) for a in authors),
        summary=summary,
        body=Body(*body) if body is not None else None,
        image=Image(*image) if image is not None else None,
        language=language,
        featured=featured,
        draft=rec[R_DRAFT],
        origin=Origin(*rec[R_ORIGIN]),
        extra=MappingProxyType(pickle.loads(extra)) if extra else EMPTY,
    )


def render_content(article: Article, config: Config) -> str:
    """Return the body as HTML with absolute link/image URLs (against ``article.url``).

    Characters XML 1.0 forbids are removed. An article without a body renders as "".
    """
    del config  # the article URL already carries everything links are resolved against
    if article.body is None:
        return clean_text(article.content_html or "")
    return render_body(article.body, article.url)


def render_body(body: Body, url: str) -> str:
    """:func:`render_content` for a bare body (cheap to send to another process)."""
    text = read_body(body)
    html = render_markdown(text) if body.format == "markdown" else text
    return clean_text(absolutize_html(html, url))


def render_markdown(text: str) -> str:
    """CommonMark to HTML, raw HTML kept (publishers embed figures and iframes).

    cmark (C) renders 25-30 times faster than markdown-it-py with the same output, which
    is what keeps a cold build of a large site within seconds.
    """
    return cmarkgfm.markdown_to_html(text, options=CmarkOptions.CMARK_OPT_UNSAFE)


def body_text(article: Article) -> str:
    """Plain text of the article body (no markup), for similarity and search."""
    body = article.body
    if body is None:
        return _html_to_text(article.content_html or "")
    text = read_body(body)
    if body.format == "html":
        return _html_to_text(text)
    return " ".join(_inline_text(t) for t in _markdown().parse(text) if t.type == "inline" or t.type == "fence")


def slugify(text: str) -> str:
    """Return an ASCII slug: "Économie à Zürich" -> "economie-a-zurich", "Азербайджан" -> "azerbaydzhan"."""
    return _NON_SLUG.sub("-", anyascii(text).lower()).strip("-")


def read_body(body: Body) -> str:
    """The body's text, read from its file when it was left there."""
    if body.text is not None:
        return body.text
    if body.path is None:
        return ""
    with open(body.path, "rb") as handle:
        handle.seek(body.offset)
        return handle.read().decode("utf-8", errors="replace")


def absolutize_html(html: str, base: str) -> str:
    """Make every ``href``/``src`` attribute value absolute against ``base``."""

    def fix(match: re.Match[str]) -> str:
        value = match.group(3) if match.group(3) is not None else match.group(4)
        if value is None:
            value = match.group(5)
        stripped = value.strip()
        if not stripped or _has_scheme(stripped):
            return match.group(0)
        absolute = urljoin(base, unescape(stripped)).replace("&", "&amp;").replace('"', "&quot;")
        return f'{match.group(1)}="{absolute}"'

    return _URL_ATTR.sub(fix, html)


# -- file discovery -----------------------------------------------------------------


def scan_record_files(config: Config) -> tuple[list[tuple[str, str, tuple[int, int, int]]], list[str]]:
    """Every record file as (path relative to the root, absolute path, identity), sorted; plus warnings.

    Hidden files and folders (starting with ".") are ignored; other unknown file types are
    skipped with a warning. Identity is (size, mtime_ns, inode).
    """
    root = config.root
    prefix = str(root).rstrip(os.sep) + os.sep
    found: list[tuple[str, str, tuple[int, int, int]]] = []
    warnings: list[str] = []
    for base in config.records.paths:
        if not base.exists():
            warnings.append(f"{_rel(base, root)}: record folder does not exist")
            continue
        if base.is_file():
            folder, name = os.path.split(str(base))
            rel = _rel_folder(folder, prefix) + name
            if _is_record_name(name):
                st = base.stat()
                found.append((rel, str(base), (st.st_size, st.st_mtime_ns, st.st_ino)))
            else:
                warnings.append(_unknown_type(rel))
        else:
            _scan_tree(str(base), prefix, found, warnings)
    if len(config.records.paths) > 1:
        # Overlapping paths name a file twice: keep one entry per relative path.
        found = list({rel: (rel, path, ident) for rel, path, ident in found}.values())
    found.sort(key=itemgetter(0))
    return found, sorted(set(warnings))


def _scan_tree(top: str, prefix: str, found: list[tuple[str, str, tuple[int, int, int]]], warnings: list[str]) -> None:
    # The hot loop of every warm rebuild (one pass per file of 100,000): the relative folder is
    # worked out once per folder, and nothing per file is done twice.
    add = found.append
    folders = [top]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        rel_folder = _rel_folder(folder, prefix)
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir():
                folders.append(entry.path)
            elif entry.is_file():
                if name.lower().endswith(RECORD_SUFFIXES):
                    st = entry.stat()
                    add((rel_folder + name, entry.path, (st.st_size, st.st_mtime_ns, st.st_ino)))
                else:
                    warnings.append(_unknown_type(rel_folder + name))


def _is_record_name(name: str) -> bool:
    # Every suffix starts with its only dot, so this is "the part after the last dot is a record type".
    return name.lower().endswith(RECORD_SUFFIXES)


def _unknown_type(rel: str) -> str:
    return f"{rel}: unknown file type, skipped (records are {', '.join(RECORD_SUFFIXES)})"


def _rel_folder(folder: str, prefix: str) -> str:
    """``folder`` relative to the root (``prefix``), "/"-separated and ending in "/" (or "")."""
    path = folder.rstrip(os.sep) + os.sep
    return (path[len(prefix) :] if path.startswith(prefix) else path).replace(os.sep, "/")


def entry_name(path: str) -> str:
    return path[path.rfind(os.sep) + 1 :]


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# -- parsing (runs in worker processes; everything here is picklable) ---------------


@dataclass(frozen=True)
class _ParseContext:
    """The parts of the config that parsing depends on: a change invalidates the cache."""

    root: str
    site_url: str
    permalink: str
    timezone: str
    authority: str
    tag_date: str
    authors: tuple[tuple[str, str | None, str | None], ...]
    category_slugs: tuple[tuple[str, str], ...]

    @classmethod
    def from_config(cls, config: Config) -> _ParseContext:
        site = config.site
        authors = ((site.author, site.author_email or None, None),) if site.author else ()
        return cls(
            root=str(config.root),
            site_url=site.url,
            permalink=config.records.permalink,
            timezone=site.timezone,
            authority=site.tag_authority or (urlsplit(site.url).hostname or "localhost"),
            tag_date=site.tag_date,
            authors=authors,
            category_slugs=tuple(sorted((n, c.slug) for n, c in config.categories.items() if c.slug)),
        )

    def fingerprint(self) -> str:
        return f"{CACHE_VERSION}:{self!r}"


class FileResult(NamedTuple):
    """One file's records (compact tuples, drafts included) and problems (a tuple: small and cheap)."""

    recs: tuple[Rec, ...]
    problems: tuple[tuple[str, str], ...]
    """(record key or "" for the whole file, formatted problem)."""
    count: int

    def to_plain(self) -> tuple[Any, ...]:
        return tuple(self)

    @classmethod
    def from_plain(cls, plain: tuple[Any, ...]) -> FileResult:
        return cls(*plain)


def _parse_many(
    ctx: _ParseContext, todo: list[tuple[str, str, tuple[int, int, int]]], jobs: int | None
) -> list[tuple[str, FileResult]]:
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(todo) < 400:
        return [(rel, parse_file(ctx, rel, path)) for rel, path, _ in todo]
    size = max(100, min(2000, len(todo) // (jobs * 8) + 1))
    chunks = [[(rel, path) for rel, path, _ in todo[i : i + size]] for i in range(0, len(todo), size)]
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    results: list[tuple[str, FileResult]] = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method)) as pool:
        for blob in pool.map(_parse_chunk, [ctx] * len(chunks), chunks):
            results.extend(marshal.loads(blob))
    return results


def _parse_chunk(ctx: _ParseContext, chunk: list[tuple[str, str]]) -> bytes:
    # marshal is several times faster than pickle for plain tuples, both ways.
    return marshal.dumps([(rel, parse_file(ctx, rel, path).to_plain()) for rel, path in chunk])


def parse_file(ctx: _ParseContext, rel: str, path: str) -> FileResult:
    """Parse one record file into compact records and problems (never raises for bad content)."""
    suffix = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return FileResult((), (("", f"{rel}: file: cannot read: {exc.strerror or exc}"),), 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return FileResult((), (("", f"{rel}:{line}: file: not valid UTF-8 (byte {exc.start})"),), 1)
    parser = _FileParser(ctx, rel, path)
    if suffix == ".md":
        parser.parse_markdown(text, data)
    elif suffix == ".json":
        parser.parse_json(text)
    elif suffix == ".jsonl":
        parser.parse_jsonl(text)
    else:
        parser.parse_yaml(text)
    return FileResult(tuple(parser.recs), tuple(parser.problems), parser.count)


class _RecordLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML without implicit timestamps: dates stay text so a bad one is a field error."""


_RecordLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_FM_KEY_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: (.*))?$")
_FM_PLAIN = re.compile(r"\d{4}-\d\d-\d\d(?:[T ][0-9:.]+(?:Z|[+-]\d\d:?\d\d)?)?|[A-Za-z][A-Za-z0-9 _.,/()'-]*")
_YAML_WORDS = frozenset(
    w
    for word in ("y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf")
    for w in (word, word.capitalize(), word.upper())
)


def parse_front_matter(text: str) -> Any:
    """Parse YAML front matter; raises yaml.YAMLError.

    The usual front matter (one ``key: value`` per line, values in double quotes, flow
    lists of quoted strings, bare dates) is read by a fast path that gives exactly what
    YAML would; anything else goes to the YAML parser.
    """
    fast = _fast_front_matter(text)
    if fast is not None:
        return fast
    return yaml.load(text, Loader=_RecordLoader)


def _fast_front_matter(text: str) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line.strip() or line.startswith("#"):
            continue
        match = _FM_KEY_LINE.match(line)
        if match is None:
            return None
        key, value = match.group(1), (match.group(2) or "").rstrip()
        if key in out or key in _YAML_WORDS or not value:
            return None
        first, last = value[0], value[-1]
        if first == '"' and last == '"' and "\\" not in value and '"' not in value[1:-1] and len(value) > 1:
            out[key] = value[1:-1]  # no escapes: the text between the quotes, as YAML and JSON read it
        elif first == '"' or first == "[":
            if (first == '"' and last != '"') or (first == "[" and last != "]") or "\\u" in value:
                return None
            try:
                parsed = json.loads(value)
            except ValueError:
                return None
            if isinstance(parsed, list):
                if not all(isinstance(item, str) for item in parsed):
                    return None
            elif not isinstance(parsed, str):
                return None
            out[key] = parsed
        elif value == "true" or value == "false":
            out[key] = value == "true"
        elif _FM_PLAIN.fullmatch(value) and value not in _YAML_WORDS and not value.endswith(" "):
            if value[0].isdigit() and not value[:4].isdigit():
                return None
            out[key] = value
        else:
            return None
    return out


class _FileParser:
    def __init__(self, ctx: _ParseContext, rel: str, path: str) -> None:
        self.ctx = ctx
        self.rel = rel
        self.path = path
        self.recs: list[Rec] = []
        self.problems: list[tuple[str, str]] = []
        self.count = 0

    def file_problem(self, line: int | None, field: str, message: str) -> None:
        self.count += 1
        where = f"{self.rel}:{line}" if line else self.rel
        self.problems.append(("", f"{where}: {field}: {message}"))

    def parse_markdown(self, text: str, data: bytes) -> None:
        if text.startswith("\ufeff"):
            text = text[1:]
            data = data[3:]
        lines = text.split("\n", 1)
        if lines[0].rstrip() != "---":
            self.file_problem(1, "front matter", "missing (a record starts with a '---' line, then YAML fields)")
            return
        match = _FM_END.search(text, len(lines[0]))
        if match is None:
            self.file_problem(1, "front matter", "not closed (no '---' line after the fields)")
            return
        fm = text[len(lines[0]) + 1 : match.start()]
        body = text[match.end() :]
        offset = len(text[: match.end()].encode("utf-8")) + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        try:
            fields = parse_front_matter(fm)
        except yaml.YAMLError as exc:
            line = _yaml_error_line(exc)
            # Marks count from 0 at the first front matter line, which is line 2 of the file.
            self.file_problem(
                line + 2 if line is not None else 1, "front matter", f"invalid YAML: {_yaml_error_text(exc)}"
            )
            return
        if fields is None:
            fields = {}

        def field_line(name: str) -> int | None:
            found = _line_of_key(fm, name)
            return found + 1 if found else 1

        self.count += 1
        self.add(fields, line=1, index=None, single=True, field_line=field_line, md_body=(body, offset))

    def parse_json(self, text: str) -> None:
        decoder = json.JSONDecoder()
        try:
            stripped = text.lstrip("\ufeff \t\r\n")
            if stripped.startswith("["):
                items = list(_json_array_items(text, decoder))
            else:
                items = [(decoder.decode(text.lstrip("\ufeff")), 1, len(text), 0)]
        except json.JSONDecodeError as exc:
            self.file_problem(exc.lineno, "json", f"invalid JSON: {exc.msg} (column {exc.colno})")
            return
        single = len(items) == 1 and not stripped.startswith("[")
        for position, (value, line, end, start) in enumerate(items):
            chunk = text[start:end]
            self.count += 1
            self.add(
                value,
                line=line,
                index=None if single else position,
                single=single,
                field_line=_json_field_line(chunk, line),
            )

    def parse_jsonl(self, text: str) -> None:
        for number, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                self.file_problem(number, "json", f"invalid JSON: {exc.msg} (column {exc.colno})")
                continue
            self.count += 1
            self.add(value, line=number, index=number, single=False, field_line=lambda _n, n=number: n)

    def parse_yaml(self, text: str) -> None:
        loader = _RecordLoader(text)
        try:
            node = loader.get_single_node()
            value = loader.construct_document(node) if node is not None else None
        except yaml.YAMLError as exc:
            line = _yaml_error_line(exc)
            self.file_problem(line + 1 if line is not None else 1, "yaml", f"invalid YAML: {_yaml_error_text(exc)}")
            return
        finally:
            loader.dispose()
        if isinstance(value, list) and isinstance(node, yaml.SequenceNode):
            for position, (item, item_node) in enumerate(zip(value, node.value, strict=True)):
                self.count += 1
                self.add(
                    item,
                    line=item_node.start_mark.line + 1,
                    index=position,
                    single=False,
                    field_line=_yaml_field_line(item_node),
                )
        else:
            self.count += 1
            line = node.start_mark.line + 1 if node is not None else 1
            self.add(value, line=line, index=None, single=True, field_line=_yaml_field_line(node))

    def add(
        self,
        fields: Any,
        *,
        line: int,
        index: int | None,
        single: bool,
        field_line: Callable[[str], int | None],
        md_body: tuple[str, int] | None = None,
    ) -> None:
        key = f"file:{self.rel}" if index is None else f"file:{self.rel}#{index}"
        if not isinstance(fields, dict):
            self.problems.append(
                (key, f"{self.rel}:{line}: record: expected a mapping of fields, got {_type_name(fields)}")
            )
            return
        builder = _RecordBuilder(self, fields, key=key, line=line, index=index, single=single, field_line=field_line)
        rec = builder.build(md_body)
        self.problems.extend((builder.key, p) for p in builder.problems)
        if rec is not None and not builder.problems:
            self.recs.append(rec)


class _RecordBuilder:
    def __init__(
        self,
        parser: _FileParser,
        fields: dict[Any, Any],
        *,
        key: str,
        line: int,
        index: int | None,
        single: bool,
        field_line: Callable[[str], int | None],
    ) -> None:
        self.parser = parser
        self.ctx = parser.ctx
        self.fields = fields
        self.key = key
        self.line = line
        self.index = index
        self.single = single
        self.field_line = field_line
        self.problems: list[str] = []

    def problem(self, name: str, message: str, *, record_level: bool = False) -> None:
        line = self.line if record_level or name not in self.fields else (self.field_line(name) or self.line)
        self.problems.append(f"{self.parser.rel}:{line}: {name}: {message}")

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.fields.get(name)
        if value is None:
            if required:
                self.problem(name, "missing (every record needs one)", record_level=True)
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(name, f"must be text, got {_type_name(value)}")
            return None
        text = clean_text(str(value)).strip()
        if not text and required:
            self.problem(name, "is empty")
            return None
        return text or None

    def text_list(self, name: str) -> tuple[str, ...]:
        value = self.fields.get(name)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            self.problem(name, "must be text or a list of text")
            return ()
        seen: dict[str, None] = {}
        for item in value:
            text = " ".join(clean_text(str(item)).split())
            if text:
                seen.setdefault(text, None)
        return tuple(seen)

    def moment(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.fields.get(name)
        if value is None:
            if required:
                self.problem(name, "missing (every record needs one)", record_level=True)
            return None
        moment = parse_moment(value, ZoneInfo(self.ctx.timezone))
        if moment is None:
            self.problem(name, f"not a valid ISO 8601 date: {_short(value)}")
        return moment

    def boolean(self, name: str) -> bool:
        value = self.fields.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.problem(name, f"must be true or false, got {_short(value)}")
            return False
        return value

    def build(self, md_body: tuple[str, int] | None) -> Rec | None:
        ctx = self.ctx
        title = self.text("title", required=True)
        published = self.moment("date", required=True)
        updated = self.moment("updated")
        explicit_id = self.text("id")
        slug = self.text("slug")
        categories = self.text_list("categories")
        tags = self.text_list("tags")
        authors = self.authors()
        summary = self.text("summary")
        language = self.text("language")
        draft = self.boolean("draft")
        featured = self.boolean("featured")
        if explicit_id is not None:
            self.key = f"id:{explicit_id}"
        if slug is None:
            slug = slugify(_stem(self.parser.rel)) if self.single else slugify(title or "")
            slug = slug or "untitled"
        body = self.body(md_body)
        if title is None or published is None:
            return None
        url = self.url(slug, categories, published)
        image = self.image(url)
        if url is None:
            return None
        if updated is None or updated < published:
            updated = published
        if summary is None:
            summary = derive_summary(md_body[0] if md_body else body[1] if body else None, body[0] if body else None)
        record_id = explicit_id if explicit_id is not None else slug
        tag_date = ctx.tag_date or _record_date(self.fields["date"], published, ctx)
        feed_id = f"tag:{ctx.authority},{tag_date}:{quote(record_id, safe=_TAG_SAFE)}"
        extra = {k: v for k, v in self.fields.items() if k not in KNOWN_FIELDS and isinstance(k, str)}
        if md_body is not None:
            body_tuple: tuple[Any, ...] | None = ("markdown", None, self.parser.path, md_body[1])
        elif body is not None:
            body_tuple = (body[0], body[1], None, 0)
        else:
            body_tuple = None
        details = (
            title,
            slug,
            to_micros(updated),
            tags,
            authors,
            summary,
            body_tuple,
            image,
            language,
            pickle.dumps(extra, protocol=5) if extra else None,
            featured,
        )
        return (
            self.key,
            record_id,
            url,
            to_micros(published),
            feed_id,
            categories,
            (self.parser.rel, self.line, self.index),
            draft,
            marshal.dumps(details),
        )

    def authors(self) -> tuple[tuple[str, str | None, str | None], ...]:
        found: list[tuple[str, str | None, str | None]] = []
        for name in ("author", "authors"):
            value = self.fields.get(name)
            if value is None:
                continue
            items = value if isinstance(value, list) else [value]
            for item in items:
                author = self.author(name, item)
                if author is None:
                    return ()
                found.append(author)
        return tuple(found) if found else self.ctx.authors

    def author(self, name: str, item: Any) -> tuple[str, str | None, str | None] | None:
        if isinstance(item, str) and item.strip():
            return (clean_text(item).strip(), None, None)
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip():
            email, url = item.get("email"), item.get("url")
            if email is not None and (not isinstance(email, str) or "@" not in email or " " in email.strip()):
                self.problem(name, f"not a valid email address: {_short(email)}")
                return None
            if url is not None and (not isinstance(url, str) or not _is_http_url(url)):
                self.problem(name, f"author url must be an absolute http(s) URL, got {_short(url)}")
                return None
            return (clean_text(item["name"]).strip(), email.strip() if email else None, url or None)
        self.problem(name, "must be a name, or a mapping with name (and optional email, url)")
        return None

    def body(self, md_body: tuple[str, int] | None) -> tuple[str, str] | None:
        if md_body is not None:
            for name in ("body", "content_html"):
                if name in self.fields:
                    self.problem(name, "not allowed in front matter (the Markdown after it is the body)")
            return None
        markdown, html = self.fields.get("body"), self.fields.get("content_html")
        if markdown is not None and html is not None:
            self.problem("content_html", "give either body (Markdown) or content_html, not both")
            return None
        for name, value, fmt in (("body", markdown, "markdown"), ("content_html", html, "html")):
            if value is not None:
                if not isinstance(value, str):
                    self.problem(name, f"must be text, got {_type_name(value)}")
                    return None
                return (fmt, value)
        return None

    def url(self, slug: str, categories: tuple[str, ...], published: datetime) -> str | None:
        ctx = self.ctx
        value = self.fields.get("url")
        if value is not None:
            if not isinstance(value, str) or not value.strip() or _SPACE.search(value.strip()):
                self.problem("url", f"not a valid URL: {_short(value)}")
                return None
            url = _join(ctx.site_url, value.strip())
            if not _is_http_url(url):
                self.problem("url", f"must be an http(s) URL or a path on the site, got {_short(value)}")
                return None
            return url
        local = published.astimezone(ZoneInfo(ctx.timezone))
        overrides = dict(ctx.category_slugs)
        category = categories[0] if categories else ""
        path = ctx.permalink.format(
            category=overrides.get(category) or (category_slug(category) if category else ""),
            slug=quote(slug),
            id=quote(self.text("id") or slug, safe=""),
            year=f"{local.year:04d}",
            month=f"{local.month:02d}",
            day=f"{local.day:02d}",
        )
        path = _SLASHES.sub("/", path).lstrip("/")
        return _join(ctx.site_url, path)

    def image(self, base: str | None) -> tuple[Any, ...] | None:
        value = self.fields.get("image")
        if value is None:
            return None
        if isinstance(value, str):
            value = {"url": value}
        if not isinstance(value, dict) or not isinstance(value.get("url"), str) or not value["url"].strip():
            self.problem(
                "image", "must be a URL, or a mapping with url (and optional alt, type, width, height, length)"
            )
            return None
        url = _join(base or self.ctx.site_url, value["url"].strip())
        if not _is_http_url(url) or _SPACE.search(url):
            self.problem("image", f"not a valid URL: {_short(value['url'])}")
            return None
        numbers: list[int | None] = []
        for name in ("width", "height", "length"):
            number = value.get(name)
            if number is not None and (isinstance(number, bool) or not isinstance(number, int) or number < 0):
                self.problem("image", f"{name} must be a whole number, got {_short(number)}")
                return None
            numbers.append(number)
        mime = value.get("type") or _image_type(url)
        alt = value.get("alt") or ""
        return (url, clean_text(str(alt)), mime, *numbers)


def parse_moment(value: Any, tz: ZoneInfo) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 text or date; None if it is not one.

    Date-only values mean midnight and naive times are local, both in ``tz``.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if not _ISO_SHAPE.match(text):
            return None
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def derive_summary(markdown: str | None, fmt: str | None) -> str:
    """Plain text of the first paragraph, cut at a word boundary near 300 characters."""
    if not markdown:
        return ""
    text = _html_first_paragraph(markdown) if fmt == "html" else _markdown_first_paragraph(markdown)
    return cut_summary(" ".join(clean_text(text).split()))


def cut_summary(text: str, limit: int = SUMMARY_LENGTH) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space > limit // 2 else text[:limit]
    return cut.rstrip(" ,;:.-–—") + "…"


def _markdown_first_paragraph(text: str) -> str:
    md = _markdown()
    # A prefix is enough almost always; parse the whole body only if the paragraph runs past it.
    for chunk in (text[:3000], text):
        tokens = md.parse(chunk)
        for i, token in enumerate(tokens):
            if token.type == "paragraph_open":
                inline = tokens[i + 1]
                ends_early = token.map is None or token.map[1] < chunk.count("\n")
                if chunk is text or ends_early:
                    return _inline_text(inline)
                break
        else:
            if chunk is text or len(text) <= 3000:
                return ""
    return ""


def _inline_text(token: Any) -> str:
    if token.type == "fence":
        return str(token.content)
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_inline_text(child))  # its alt text
    return "".join(parts)


def _html_first_paragraph(html: str) -> str:
    match = _FIRST_P.search(html)
    return _html_to_text(match.group(1) if match else html)


def _html_to_text(html: str) -> str:
    return " ".join(unescape(_TAGS.sub(" ", html)).split())


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # CommonMark, raw HTML allowed (publishers embed figures and iframes); one parser per process.
    return MarkdownIt("commonmark")


# -- validation across files ----------------------------------------------------------


def _validate(
    config: Config, files: list[tuple[str, FileResult]], warnings: list[str]
) -> tuple[tuple[Rec, ...], tuple[str, ...], tuple[str, ...], int, frozenset[str]]:
    problems: list[str] = []
    invalid: set[str] = set()
    valid: list[Rec] = []
    read = 0
    by_id: dict[str, Rec] = {}
    by_url: dict[str, Rec] = {}
    for _, result in files:
        recs, file_problems, count = result
        read += count
        for key, problem in file_problems:
            problems.append(problem)
            if key:
                invalid.add(key)
        for rec in recs:
            if rec[R_DRAFT]:
                continue
            clash = False
            for table, field, index in ((by_id, "id", R_ID), (by_url, "url", R_URL)):
                first = table.get(rec[index])
                if first is None:
                    table[rec[index]] = rec
                    continue
                clash = True
                here = _locate(config, rec, field)
                there = _locate(config, first, field)
                problems.append(f"{here}: {field}: duplicate {field} {rec[index]!r}, also used at {there}")
            if clash:
                invalid.add(rec[R_KEY])
            else:
                valid.append(rec)
    return tuple(valid), tuple(problems), tuple(warnings), read, frozenset(invalid)


def _locate(config: Config, rec: Rec, field: str) -> str:
    """``PATH:LINE`` of ``field`` in the record (the record's own line if the field is not written)."""
    rel, line, _index = rec[R_ORIGIN]
    suffix = os.path.splitext(rel)[1].lower()
    try:
        text = (config.root / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return f"{rel}:{line}"
    if suffix == ".md":
        end = _FM_END.search(text, 3)
        found = _line_of_key(text[: end.start() if end else len(text)], field)
        return f"{rel}:{found or line}"
    if suffix == ".jsonl":
        return f"{rel}:{line}"
    if suffix == ".json":
        start = _offset_of_line(text, line)
        found = _json_field_line(text[start:], line)(field)
        return f"{rel}:{found or line}"
    found = _line_of_key(text, field, after_line=line - 1)
    return f"{rel}:{found or line}"


# -- small helpers ----------------------------------------------------------------------

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_FM_END = re.compile(r"^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.M)
_SLASHES = re.compile(r"/{2,}")
_DATE_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d-")
_ISO_SHAPE = re.compile(r"^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:[Zz]|[+-]\d\d(?::?\d\d)?)?)?$")
_TAG_SAFE = "/:@!$&'()*+,;=-._~?"
_URL_ATTR = re.compile(r"""(?i)\b(href|src|poster)(\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_FIRST_P = re.compile(r"(?is)<p\b[^>]*>(.*?)</p\s*>")
_TAGS = re.compile(r"(?s)<[^>]*>")
_SPACE = re.compile(r"\s")
_ABSOLUTE_HTTP = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d+)?(?:[/?#]|$)")
_IMAGE_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "webp": "image/webp", "avif": "image/avif", "svg": "image/svg+xml",
}  # fmt: skip


def _has_scheme(url: str) -> bool:
    return bool(_SCHEME.match(url))


def _join(base: str, url: str) -> str:
    # urljoin is slow, and a no-op for the usual absolute URL or plain relative path.
    if "/." not in "/" + url and ":" not in url.split("/", 1)[0]:
        if _ABSOLUTE_HTTP.match(url):
            return url
        if not url.startswith(("/", "?", "#")) and base.endswith("/"):
            return base + url
    return urljoin(base, url)


def _image_type(url: str) -> str | None:
    path = url.split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    extension = name.rsplit(".", 1)[1].lower()
    return _IMAGE_TYPES.get(extension) or mimetypes.guess_type(name)[0]


def _is_http_url(url: str) -> bool:
    if _ABSOLUTE_HTTP.match(url):
        return True
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _stem(rel: str) -> str:
    stem = os.path.splitext(os.path.basename(rel))[0]
    return _DATE_PREFIX.sub("", stem) or stem


def _record_date(raw: Any, published: datetime, ctx: _ParseContext) -> str:
    # The date as the author wrote it (its own offset), so the id does not depend on the site timezone.
    if isinstance(raw, str) and _ISO_SHAPE.match(raw.strip()):
        return raw.strip()[:10]
    if isinstance(raw, date):
        return raw.isoformat()[:10]
    return published.astimezone(ZoneInfo(ctx.timezone)).date().isoformat()


def to_micros(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _line_of_key(text: str, key: str, *, after_line: int = 0) -> int | None:
    """1-based line of the first top-level ``key:`` in YAML text (or of a ``- key:`` list item)."""
    pattern = re.compile(rf"^[ \t]*(?:-\s+)?['\"]?{re.escape(key)}['\"]?\s*:", re.M)
    start = _offset_of_line(text, after_line + 1)
    match = pattern.search(text, start)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _offset_of_line(text: str, line: int) -> int:
    offset = 0
    for _ in range(max(0, line - 1)):
        found = text.find("\n", offset)
        if found < 0:
            return len(text)
        offset = found + 1
    return offset


def _json_array_items(text: str, decoder: json.JSONDecoder) -> Iterator[tuple[Any, int, int, int]]:
    """(value, line, end offset, start offset) of each element of a top-level JSON array."""
    position = text.index("[") + 1
    length = len(text)
    expect_value = True
    while True:
        while position < length and text[position] in " \t\r\n":
            position += 1
        if position >= length:
            raise json.JSONDecodeError("Expecting ']'", text, position)
        char = text[position]
        if char == "]":
            position += 1
            break
        if not expect_value:
            if char != ",":
                raise json.JSONDecodeError("Expecting ',' delimiter", text, position)
            position += 1
            expect_value = True
            continue
        value, end = decoder.raw_decode(text, position)
        yield value, text.count("\n", 0, position) + 1, end, position
        position = end
        expect_value = False
    if text[position:].strip():
        raise json.JSONDecodeError("Extra data", text, position)


def _json_field_line(chunk: str, first_line: int) -> Callable[[str], int | None]:
    def find(name: str) -> int | None:
        match = re.search(rf'"{re.escape(name)}"\s*:', chunk)
        return first_line + chunk.count("\n", 0, match.start()) if match else None

    return find


def _yaml_field_line(node: Any) -> Callable[[str], int | None]:
    def find(name: str) -> int | None:
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if getattr(key_node, "value", None) == name:
                    return int(key_node.start_mark.line) + 1
        return None

    return find


def _yaml_error_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return None if mark is None else int(mark.line)


def _yaml_error_text(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        return f"{problem} ({context})" if context else str(problem)
    return str(exc).splitlines()[0]


def article_sort_micros(rec: Rec) -> tuple[int, str]:
    """Sort key of a compact record matching :func:`model.sort_key` (newest first, then feed id)."""
    return (-rec[R_PUB], rec[R_FEED_ID])


def recs_by_key(recs: Iterable[Rec]) -> Mapping[str, Rec]:
    return {rec[R_KEY]: rec for rec in recs}
