"""The email digest: what goes in it, how it looks, and sending it exactly once.

Three steps, each usable on its own:

1. :func:`select_items` picks the articles (and outside items) that became published
   since the previous digest's cutoff, no older than the configured maximum age;
2. :func:`render_digest` turns them into a subject, an inlined HTML body and a plain-text
   body (Jinja2 templates, premailer), cut to fit under Gmail's clipping limit;
3. :func:`send_digest` records the digest in the send ledger and delivers it to every
   subscriber over SMTP, resuming an unfinished digest instead of starting a new one.

Per-recipient parts (the unsubscribe link) are filled into the rendered text at send
time, so a resumed send delivers byte-for-byte the digest that was started.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import premailer
from babel import Locale, UnknownLocaleError
from babel.dates import format_date

from . import templating
from .categories import build_categories
from .config import Config
from .errors import ConfigError, DigestError
from .model import Article, Image, sort_key
from .share import ShareLink, add_utm, share_links
from .store import Store, from_iso
from .urlnorm import normalise_url

log = logging.getLogger(__name__)

UNSUBSCRIBE_PLACEHOLDER = "https://unsubscribe.invalid/SYNDICATE-UNSUBSCRIBE-LINK"
"""Stands for the per-recipient unsubscribe URL in rendered bodies until a message is built."""
SECRET_FILENAME = "unsubscribe.key"
PREVIEW_ADDRESS = "reader@example.com"


# -- selection ---------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The items of one digest, in digest order, and the window they were chosen from."""

    window_start: datetime | None
    """Items first seen after this (None: no earlier digest, so only the age limit applies)."""
    cutoff: datetime
    own: tuple[Article, ...]
    outside: tuple[Article, ...]
    left_out: int = 0
    """New items beyond ``digest.max_items``: counted in a "more on the site" line."""
    archive: tuple[Article, ...] = field(default=(), repr=False)
    """Everything related items may be drawn from."""

    @property
    def items(self) -> tuple[Article, ...]:
        return self.own + self.outside

    @property
    def count(self) -> int:
        return len(self.own) + len(self.outside)


def select_items(
    config: Config,
    store: Store,
    *,
    now: datetime,
    window_start: datetime | None,
    since: datetime | None = None,
) -> Selection:
    """The items that became published in ``(window_start, now]`` and are not too old.

    "Became published" is the time syndicate first saw an item published (its pin for
    records, its first fetch for outside items), so a scheduled article enters the digest
    after its time and a back-dated late addition is not missed. ``since`` (a one-off
    ``--since``) replaces both the window start and the age limit.
    """
    from .related import load_archive  # reads every record: imported late, only when selecting

    # An invalid record is the build's problem (reported there); it must not hold back the
    # digest of what is validly published.
    archive = load_archive(config, store, now=now, skip_invalid=True)
    start = since if since is not None else window_start
    oldest = since if since is not None else now - timedelta(days=config.digest.max_age_days)
    first_seen = _first_seen(store)
    # A one-off --since asks for everything in its window, sent before or not.
    already_sent = _digested_keys(store) if since is None else frozenset()
    # The same story under another key (a second source carrying it) counts as sent too.
    sent_urls = _sent_urls(store, already_sent)

    def fresh(article: Article) -> bool:
        seen = first_seen.get(article.key)
        if seen is None or article.key in already_sent:
            return False
        # An item dated ahead of the time we first saw it (an outside feed with a wrong
        # offset, a record moved to a later date) becomes published at its date, not
        # before: otherwise it is too new for the digest that sees it and too old for the next.
        became = max(seen, article.published)
        if became > now or (start is not None and became <= start):
            return False
        if not oldest <= article.published <= now:
            return False
        return not sent_urls or normalise_url(article.url) not in sent_urls

    chosen = [a for a in archive if fresh(a)]
    own = sorted((a for a in chosen if not a.is_external), key=sort_key)
    outside = sorted((a for a in chosen if a.is_external), key=sort_key)
    limit = config.digest.max_items
    left_out = max(0, len(own) + len(outside) - limit)
    own = own[:limit]
    outside = outside[: max(0, limit - len(own))]
    return Selection(start, now, tuple(own), tuple(outside), left_out, tuple(archive))


def _digested_keys(store: Store) -> frozenset[str]:
    """The items of every digest recorded so far: none of them is sent a second time."""
    keys: set[str] = set()
    for (raw,) in store.db.execute("SELECT item_keys FROM digests"):
        keys.update(json.loads(raw))
    return frozenset(keys)


def _sent_urls(store: Store, keys: frozenset[str]) -> set[str]:
    """Normalised links of the items with these keys, from the store (an item may have left the archive)."""
    if not keys:
        return set()
    urls = {normalise_url(url) for key, url in store.db.execute("SELECT key, url FROM published") if key in keys}
    for source, guid, link in store.db.execute("SELECT source, guid, norm_link FROM items"):
        if f"src:{source}:{guid}" in keys:
            urls.add(link)
    return urls


def _first_seen(store: Store) -> dict[str, datetime]:
    seen = {row[0]: from_iso(row[1]) for row in store.db.execute("SELECT key, first_seen FROM published")}
    for source, guid, when in store.db.execute("SELECT source, guid, first_seen FROM items"):
        seen[f"src:{source}:{guid}"] = from_iso(when)
    return seen


# -- rendering ---------------------------------------------------------------


@dataclass(frozen=True)
class RelatedLink:
    title: str
    url: str
    category: str
    via: str | None


@dataclass(frozen=True)
class DigestItem:
    key: str
    title: str
    url: str
    """The article link, with UTM parameters when configured."""
    category: str
    byline: str
    date: str
    summary: str
    image: Image | None
    shares: tuple[ShareLink, ...]
    related: tuple[RelatedLink, ...]
    via: str | None = None
    via_url: str | None = None


@dataclass(frozen=True)
class DigestSection:
    title: str
    slug: str
    items: tuple[DigestItem, ...]


@dataclass(frozen=True)
class RenderedDigest:
    """A digest ready to send: bodies hold UNSUBSCRIBE_PLACEHOLDER where each recipient's link goes."""

    subject: str
    html: str
    text: str
    item_keys: tuple[str, ...]
    left_out: int

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        for part in (self.subject, self.html, self.text):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        return h.hexdigest()

    def payload(self) -> str:
        return json.dumps({"subject": self.subject, "html": self.html, "text": self.text}, ensure_ascii=False)

    @classmethod
    def from_payload(cls, payload: str, item_keys: Sequence[str]) -> RenderedDigest:
        data = json.loads(payload)
        return cls(data["subject"], data["html"], data["text"], tuple(item_keys), 0)


def render_digest(
    config: Config, selection: Selection, *, now: datetime, related_limit: int | None = None
) -> RenderedDigest:
    """Subject, inlined HTML and plain text of ``selection``; the HTML stays under ``max_html_bytes``.

    When the HTML would be too large, items are dropped from the end (outside items first,
    then the oldest articles) and counted in a "more on the site" link instead, so Gmail
    never clips the message and hides the footer with the unsubscribe link.
    """
    limit = config.digest.related if related_limit is None else related_limit
    items = list(selection.items)
    related = _related_items(config, selection, items, limit)
    env = templating.make_environment(config.template_dirs)
    dropped = 0
    while True:
        kept = items[: len(items) - dropped]
        context = _context(config, selection, kept, related, now=now, left_out=selection.left_out + dropped)
        html = _inline(templating.render(env, "digest.html", context))
        size = len(html.encode("utf-8"))
        if size <= config.digest.max_html_bytes or not kept:
            break
        # Estimate how many items to drop from the average item size, then check again.
        per_item = max(1, size // max(1, len(kept)))
        dropped += max(1, math.ceil((size - config.digest.max_html_bytes) / per_item))
        dropped = min(dropped, len(items))
    text = templating.render(env, "digest.txt", context)
    return RenderedDigest(
        subject=context["digest"]["subject"],
        html=html,
        text=text,
        item_keys=tuple(a.key for a in kept),
        left_out=selection.left_out + dropped,
    )


def _related_items(
    config: Config, selection: Selection, items: Sequence[Article], limit: int
) -> dict[str, list[Article]]:
    if limit <= 0 or not items:
        return {}
    from .related import RelatedIndex

    index = RelatedIndex.build(config, selection.archive, cache_dir=config.state_dir)
    return {a.key: [r.article for r in index.related(a, limit=limit)] for a in items}


def _context(
    config: Config,
    selection: Selection,
    items: Sequence[Article],
    related: Mapping[str, Sequence[Article]],
    *,
    now: datetime,
    left_out: int,
) -> dict[str, Any]:
    d = config.digest
    locale = _locale(config.site.language)
    local_day = now.astimezone(config.tz).date()
    campaign = d.utm_campaign.format(date=local_day.isoformat()) if d.utm_source else ""
    names = {c for a in selection.archive for c in a.categories}
    categories = build_categories(config, names, {})
    titles = {c.name: c.title for c in categories}

    own_host = urlsplit(config.site.url).netloc.lower()

    def track(url: str) -> str:
        # Only our own links: UTM tags are for the site's analytics, and an outside
        # publisher's URL (possibly signed or tracked already) is not ours to change.
        if urlsplit(url).netloc.lower() != own_host:
            return url
        return add_utm(url, source=d.utm_source, medium=d.utm_medium, campaign=campaign)

    def item(a: Article) -> DigestItem:
        link = track(a.url)
        shared = link if d.utm_in_share_links else a.url
        cat = a.primary_category
        return DigestItem(
            key=a.key,
            title=a.title,
            url=link,
            category=titles.get(cat, cat) if cat else "",
            byline=", ".join(x.name for x in a.authors) or ("" if a.is_external else config.site.author),
            date=_format_day(a.published.astimezone(config.tz).date(), locale),
            summary=a.summary,
            image=a.image,
            shares=share_links(d.share_networks, shared, a.title),
            related=tuple(
                RelatedLink(
                    r.title,
                    track(r.url),
                    titles.get(r.primary_category or "", r.primary_category or ""),
                    r.source.name if r.source else None,
                )
                for r in related.get(a.key, ())
            ),
            via=a.source.name if a.source else None,
            via_url=a.source.site_url if a.source else None,
        )

    own = [a for a in items if not a.is_external]
    outside = [a for a in items if a.is_external]
    lead_article = _lead(own)
    lead = item(lead_article) if lead_article else None
    sections: list[DigestSection] = []
    for category in categories:
        members = [a for a in own if a is not lead_article and (a.primary_category or "") == category.name]
        if members:
            sections.append(DigestSection(category.title, category.slug, tuple(item(a) for a in members)))
    uncategorised = [a for a in own if a is not lead_article and not a.primary_category]
    if uncategorised:
        sections.append(DigestSection("More", "more", tuple(item(a) for a in uncategorised)))
    web = DigestSection(d.web_section_title, "web", tuple(item(a) for a in outside)) if outside else None
    count = len(items)
    date_text = _format_day(local_day, locale)
    subject = _subject(config, count=count, date_text=date_text)
    return {
        "site": {
            "title": config.site.title,
            "url": track(config.site.url),
            "description": config.site.description,
            "logo": config.site.logo,
            "language": config.site.language,
        },
        "digest": {
            "subject": subject,
            "date": date_text,
            "count": count,
            "preheader": d.preheader or subject,
            "lead": lead,
            "sections": sections,
            "web": web,
            "more_count": left_out,
            "more_url": track(config.site.url),
            "disclaimer": d.disclaimer,
            "postal_address": d.postal_address,
            "view_in_browser_url": d.view_in_browser_url,
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        },
    }


def _lead(own: Sequence[Article]) -> Article | None:
    featured = [a for a in own if a.featured]
    pool = featured or list(own)
    return min(pool, key=sort_key) if pool else None


def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _format_day(day: date, locale: Locale) -> str:
    return format_date(day, format="long", locale=locale)


def _subject(config: Config, *, count: int, date_text: str) -> str:
    try:
        subject = config.digest.subject.format(site=config.site.title, count=count, date=date_text)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"{config.path}: digest.subject: cannot fill in {config.digest.subject!r} "
            f"(known placeholders: {{site}}, {{count}}, {{date}}): {exc}"
        ) from exc
    # A title or site name with a line break must never start a new header line.
    return " ".join(subject.split())


def _inline(html: str) -> str:
    """Inline the stylesheet into style attributes; keep @media rules in a <style> block."""
    inliner = premailer.Premailer(
        html,
        allow_network=False,
        allow_loading_external_files=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
        keep_style_tags=False,
        remove_classes=False,
        strip_important=False,
        disable_link_rewrites=True,
        # Keep the width attributes the template sets; CSS "width:100%" is no HTML attribute value.
        disable_basic_attributes=["width", "height"],
    )
    return inliner.transform()


# -- per-recipient messages ----------------------------------------------------


def unsubscribe_secret(config: Config, environ: Mapping[str, str] | None = None) -> str:
    """The HMAC secret for unsubscribe tokens.

    Read from the environment variable named by ``digest.unsubscribe_secret_env``. A site
    that has not set one gets a random secret kept in the state folder (mode 0600), so
    tokens stay verifiable by ``syndicate unsubscribe-token --verify`` on the same machine.
    """
    env = os.environ if environ is None else environ
    value = env.get(config.digest.unsubscribe_secret_env, "")
    if value:
        return value
    path = config.state_dir / SECRET_FILENAME
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise DigestError(f"{path}: cannot read the unsubscribe secret: {exc.strerror}") from exc
    secret = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret + "\n")
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise DigestError(f"{path}: cannot store a new unsubscribe secret: {exc.strerror}") from exc
    log.warning(
        "%s is not set: created an unsubscribe secret in %s (set the variable to share it with your site)",
        config.digest.unsubscribe_secret_env,
        path,
    )
    return secret


# -- sending ---------------------------------------------------------------------


@dataclass(frozen=True)
class DigestOutcome:
    """What ``send_digest`` did. ``status``: sent, nothing, dry-run, resumed or retried."""

    status: str
    message: str
    digest_id: int | None = None
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unknown


def preview(
    config: Config, store: Store, *, now: datetime, since: datetime | None = None
) -> tuple[Selection, RenderedDigest]:
    """What the next digest would hold, without touching the send ledger."""
    from .ledger import Ledger

    ledger = Ledger(store)
    selection = select_items(config, store, now=now, window_start=ledger.last_cutoff(), since=since)
    return selection, render_digest(config, selection, now=now)


def personalise(config: Config, rendered: RenderedDigest, email: str, secret: str) -> tuple[str, str, str | None]:
    """HTML and text of ``rendered`` for ``email``, and the https unsubscribe URL (if configured)."""
    from html import escape

    from .message import unsubscribe_links

    https_url, mailto = unsubscribe_links(config, email, secret)
    link = https_url or mailto
    if not link:
        raise ConfigError(
            f"{config.path}: digest: set unsubscribe_url or unsubscribe_mailto (every digest needs an unsubscribe link)"
        )
    # The placeholder holds no character HTML escaping would change, so one replace covers both bodies.
    html = rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, escape(link))
    text = rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, link)
    return html, text, https_url


def render_preview(config: Config, *, now: datetime) -> tuple[str, str]:
    """HTML and text of the next digest as a preview reader would get it (for ``serve``)."""
    from .store import open_store

    with open_store(config.state_path) as store:
        _, rendered = preview(config, store, now=now)
        html, text, _ = personalise(config, rendered, PREVIEW_ADDRESS, unsubscribe_secret(config))
    return html, text


def send_digest(
    config: Config,
    store: Store,
    *,
    now: datetime,
    since: datetime | None = None,
    retry_unknown: bool = False,
    dry_run: bool = False,
    slot: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> DigestOutcome:
    """Send the digest to every subscriber, exactly once.

    An unfinished digest in the ledger (a run that died half-way) is resumed: the same
    content goes to the subscribers who do not have it yet. Otherwise a new digest is
    made from the items published since the last digest's cutoff; with nothing new,
    nothing is sent unless ``digest.send_when_empty``. ``retry_unknown`` resends the
    latest digest to the recipients whose delivery was ambiguous. ``dry_run`` renders and
    builds every message but neither talks to SMTP nor writes the ledger.
    """
    from .ledger import Ledger, deliver
    from .subscribers import load_subscribers

    ledger = Ledger(store)
    recipients, problems = load_subscribers(config.digest.subscribers)
    warnings = tuple(problems)
    if not recipients:
        # A digest recorded for nobody would move the next window past its articles (and
        # finish an interrupted one): the first subscribers, or the restored list, get them.
        if problems:
            raise DigestError(f"no subscriber to send the digest to: {'; '.join(problems[:3])}")
        where = config.digest.subscribers
        return DigestOutcome("nothing", f"no subscribers in {where}; no digest sent", warnings=warnings)
    secret = unsubscribe_secret(config, environ)

    record = ledger.open_digest()
    status = "resumed" if record is not None else "sent"
    if record is not None and since is not None:
        warnings += (f"--since is ignored: finishing the interrupted digest {record.id} first",)
    if record is None and retry_unknown:
        record = ledger.latest_digest()
        if record is None:
            return DigestOutcome("nothing", "no digest has been sent yet", warnings=warnings)
        status = "retried"
    if record is not None:
        rendered = RenderedDigest.from_payload(record.payload, record.item_keys)
        created = record.created
    else:
        window_start = ledger.last_cutoff()
        selection = select_items(config, store, now=now, window_start=window_start, since=since)
        if not selection.count and not config.digest.send_when_empty:
            since_text = f" since {window_start.astimezone(config.tz):%Y-%m-%d %H:%M %Z}" if window_start else ""
            return DigestOutcome("nothing", f"nothing new{since_text}; no digest sent", warnings=warnings)
        rendered = render_digest(config, selection, now=now)
        created = now
        if dry_run:
            return _dry_run(config, rendered, recipients, created, secret, warnings)
        # A configuration that cannot make a message (no sender, no unsubscribe link) must
        # fail before the digest is recorded, not leave one open for a later resume.
        # A DigestError is this one address's problem, which deliver() records.
        with contextlib.suppress(DigestError):
            _message_for(config, rendered, recipients[0], created, secret)
        record = ledger.create_digest(
            window_start=selection.window_start or (now - timedelta(days=config.digest.max_age_days)),
            cutoff=now,
            created=created,
            content_hash=rendered.content_hash,
            subject=rendered.subject,
            item_keys=rendered.item_keys,
            payload=rendered.payload(),
            schedule_slot=slot,
        )
    if dry_run:
        return _dry_run(config, rendered, recipients, created, secret, warnings)

    def make(subscriber: Any) -> EmailMessage:
        return _message_for(config, rendered, subscriber, created, secret)

    report = deliver(
        config.smtp,
        ledger,
        record,
        recipients,
        make,
        rate_limit=config.digest.rate_limit,
        retry_unknown=retry_unknown,
        progress=progress,
        environ=environ,
    )
    count = len(rendered.item_keys)
    message = (
        f"digest {record.id} ({count} item{'s' if count != 1 else ''}): {report.sent} sent, "
        f"{report.failed} failed, {report.unknown} unknown, {report.skipped} already done"
    )
    return DigestOutcome(
        status,
        message,
        digest_id=record.id,
        sent=report.sent,
        failed=report.failed,
        unknown=report.unknown,
        skipped=report.skipped,
        failures=tuple(report.failures),
        warnings=warnings,
    )


def _message_for(
    config: Config, rendered: RenderedDigest, subscriber: Any, created: datetime, secret: str
) -> EmailMessage:
    from .message import build_message

    html, text, _ = personalise(config, rendered, subscriber.email, secret)
    return build_message(
        config,
        subject=rendered.subject,
        html=html,
        text=text,
        to_email=subscriber.email,
        to_name=subscriber.name,
        date=created,
        content_hash=rendered.content_hash,
        secret=secret,
    )


def _dry_run(
    config: Config,
    rendered: RenderedDigest,
    recipients: Sequence[Any],
    created: datetime,
    secret: str,
    warnings: tuple[str, ...],
) -> DigestOutcome:
    for subscriber in recipients:
        _message_for(config, rendered, subscriber, created, secret)
    count = len(rendered.item_keys)
    return DigestOutcome(
        "dry-run",
        f"dry run: {count} item(s) for {len(recipients)} subscriber(s); nothing sent, nothing recorded",
        skipped=len(recipients),
        warnings=warnings,
    )


def send_scheduled_digest(config: Config, store: Store, *, now: datetime, slot: datetime) -> Any:
    """The ``run`` command's digest stage: send (or resume) the digest for a due ``slot``."""
    from .runner import FAILED, NOTHING, OK, StageOutcome

    outcome = send_digest(config, store, now=now, slot=slot)
    details = outcome.failures + tuple(f"warning: {w}" for w in outcome.warnings)
    if outcome.status == "nothing":
        return StageOutcome("digest", NOTHING, outcome.message, details)
    return StageOutcome("digest", OK if outcome.ok else FAILED, outcome.message, details)


__all__ = [
    "DigestItem",
    "DigestOutcome",
    "DigestSection",
    "RenderedDigest",
    "Selection",
    "personalise",
    "preview",
    "render_digest",
    "render_preview",
    "select_items",
    "send_digest",
    "send_scheduled_digest",
    "unsubscribe_secret",
]
