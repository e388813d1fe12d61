"""The digest's content: selection window, rendering, share links, tracking, size cut, templates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from run_support import article_md, copy_example_site, write_site

from syndicate.build import build_site
from syndicate.config import load_config
from syndicate.digest import UNSUBSCRIBE_PLACEHOLDER, personalise, render_digest, select_items
from syndicate.errors import TemplateError
from syndicate.ingest import ingest_due
from syndicate.share import add_utm, share_url
from syndicate.store import open_store

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"] or "")
        if tag == "img":
            self.imgs.append(a)
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _site(tmp_path: Path, **kwargs: object) -> Path:
    return write_site(tmp_path / "site", **kwargs)  # type: ignore[arg-type]


def _select(root: Path, now: datetime, *, window_start: datetime | None = None, since: datetime | None = None):  # type: ignore[no-untyped-def]
    config = load_config(root / "syndicate.toml")
    with open_store(config.state_path) as store:
        build_site(config, store, now=now)
        return config, select_items(config, store, now=now, window_start=window_start, since=since)


def test_selection_is_what_became_published_in_the_window(tmp_path: Path) -> None:
    root = _site(
        tmp_path,
        extra_records={
            # Scheduled: dated after the first build, so it becomes published later.
            "later.md": article_md("Scheduled piece", "2026-11-29T09:00:00+01:00", "Energy"),
        },
    )
    _, first = _select(root, NOW)
    assert [a.title for a in first.own] == [
        "Prices in the euro area",
        "The EU budget, explained",
        "Gas storage before winter",
        "North Sea grid plan",
    ]
    # A back-dated record added after the first digest, and the scheduled one whose time came.
    (root / "articles" / "late.md").write_text(
        article_md("Back-dated correction", "2026-11-20T10:00:00+01:00", "Economy"), encoding="utf-8"
    )
    later = NOW + timedelta(days=1)
    _, second = _select(root, later, window_start=NOW)
    assert [a.title for a in second.own] == ["Scheduled piece", "Back-dated correction"]
    assert second.window_start == NOW and second.cutoff == later


def test_max_age_keeps_an_archive_import_out_and_since_overrides_it(tmp_path: Path) -> None:
    root = _site(tmp_path, extra_records={"old.md": article_md("From the 2019 archive", "2019-05-02", "Economy")})
    _, selection = _select(root, NOW)
    assert "From the 2019 archive" not in [a.title for a in selection.own]
    _, wide = _select(root, NOW, since=datetime(2019, 1, 1, tzinfo=UTC))
    assert "From the 2019 archive" in [a.title for a in wide.own]


def test_max_items_counts_what_is_left_out(tmp_path: Path) -> None:
    extra = {f"n{i}.md": article_md(f"Note {i}", f"2026-11-2{i}T08:00:00+01:00", "Energy") for i in range(1, 8)}
    root = _site(tmp_path, extra_records=extra)
    text = (root / "syndicate.toml").read_text()
    (root / "syndicate.toml").write_text(text.replace("max_age_days = 30", "max_age_days = 30\nmax_items = 5"))
    _, selection = _select(root, NOW)
    assert selection.count == 5
    assert selection.left_out == 6
    # The newest five, newest first.
    assert [a.published for a in selection.own] == sorted((a.published for a in selection.own), reverse=True)


def test_titles_are_escaped_and_every_link_is_absolute(tmp_path: Path) -> None:
    root = _site(
        tmp_path,
        extra_records={
            "xss.md": article_md('"A & B <script>alert(1)</script>"', "2026-11-27T12:00:00+01:00", "Energy")
        },
    )
    config, selection = _select(root, NOW)
    rendered = render_digest(config, selection, now=NOW)
    assert "A &amp; B &lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    parsed = _parse(rendered.html)
    assert parsed.scripts == 0
    for href in parsed.hrefs:
        assert urlsplit(href).scheme in ("https", "mailto"), href
    # The text part is text: the title as written, no markup around it.
    assert "A & B <script>alert(1)</script>" in rendered.text
    assert "<a " not in rendered.text and "<td" not in rendered.text


def test_share_links_are_percent_encoded_per_network() -> None:
    url = "https://ledger.example.eu/eu/deal/?a=1&b=2#top"
    title = "Repair & reuse: 7 years"
    fb = urlsplit(share_url("facebook", url, title))
    assert parse_qs(fb.query)["u"] == [url]
    x = parse_qs(urlsplit(share_url("x", url, title)).query)
    assert x["url"] == [url] and x["text"] == [title]
    reddit = parse_qs(urlsplit(share_url("reddit", url, title)).query)
    assert reddit["url"] == [url] and reddit["title"] == [title]
    wa = parse_qs(urlsplit(share_url("whatsapp", url, title)).query)
    assert wa["text"] == [f"{title} {url}"]
    mail = share_url("email", url, title)
    assert mail.startswith("mailto:?subject=Repair%20%26%20reuse%3A%207%20years&body=")
    assert "+" not in mail  # RFC 6068: a space is %20 in a mailto URI
    assert unquote(mail.split("body=")[1]) == f"{title}\n\n{url}"


def test_utm_keeps_query_and_fragment_and_existing_parameters() -> None:
    tracked = add_utm("https://a.example/x/?q=1&b=#frag", source="weekly", medium="email", campaign="digest-2026-11-28")
    parts = urlsplit(tracked)
    assert parts.fragment == "frag"
    assert parts.query == "q=1&b=&utm_source=weekly&utm_medium=email&utm_campaign=digest-2026-11-28"
    own = add_utm("https://a.example/?utm_source=rss", source="weekly", medium="email", campaign="c")
    assert parse_qs(urlsplit(own).query)["utm_source"] == ["rss"]
    assert add_utm("mailto:a@b.example", source="w", medium="email", campaign="c") == "mailto:a@b.example"
    assert add_utm("https://a.example/", source="", medium="email", campaign="c") == "https://a.example/"


def _example_rendered(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = copy_example_site(tmp_path / "example-site")
    config = load_config(root / "syndicate.toml")
    with open_store(config.state_path) as store:
        ingest_due(config, store, now=NOW)
        build_site(config, store, now=NOW)
        selection = select_items(config, store, now=NOW, window_start=None, since=NOW - timedelta(days=14))
    return config, selection, render_digest(config, selection, now=NOW)


def test_example_digest_matches_golden_files(tmp_path: Path, update_golden: bool) -> None:
    config, _, rendered = _example_rendered(tmp_path)
    html, text, _ = personalise(config, rendered, "reader@example.com", "golden-secret")
    outputs = {"digest.html": html, "digest.txt": text}
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        for name, body in outputs.items():
            (GOLDEN / name).write_text(body, encoding="utf-8")
    for name, body in outputs.items():
        expected = (GOLDEN / name).read_text(encoding="utf-8")
        assert body == expected, f"{name} differs from tests/golden/{name}; rerun with --update-golden if intended"


def test_example_digest_content(tmp_path: Path) -> None:
    config, selection, rendered = _example_rendered(tmp_path)
    parsed = _parse(rendered.html)
    # Sections in the configured category order, outside items last under their own heading.
    text = "".join(parsed.text)
    headings = re.findall(r'<td class="section-title"[^>]*>([^<]+)</td>', rendered.html)
    configured = ["European Union", "Member States", "Foreign Affairs", "Energy", "Economy", "Opinion"]
    own_headings = headings[:-1]
    assert own_headings == [c for c in configured if c in own_headings]
    assert headings[-1] == "From around the web"
    assert "via Energy Transition Observatory" in text or "via Danube Policy Review" in text
    # Every image has alt text and an absolute https src; CSS is inlined, only @media stays in <style>.
    assert parsed.imgs and all(i.get("alt") and (i.get("src") or "").startswith("https://") for i in parsed.imgs)
    styles = re.findall(r"<style[^>]*>(.*?)</style>", rendered.html, re.S)
    assert styles and all(s.strip().startswith("@media") for s in styles)
    assert 'style="' in rendered.html
    # Article links carry UTM tags; the article URL inside share links does not.
    own_urls = {a.url for a in selection.own}
    article_links = [h for h in parsed.hrefs if h.split("?")[0] in own_urls]
    assert len(article_links) >= len(own_urls)
    assert all("utm_medium=email" in h and "utm_campaign=digest-2026-11-28" in h for h in article_links)
    shares = [h for h in parsed.hrefs if h.startswith("https://www.facebook.com/")]
    assert shares and not any("utm_" in unquote(h) for h in shares)
    # Related items: never the item itself.
    assert rendered.html.count("You may also like") >= 1
    assert len(rendered.html.encode()) <= config.digest.max_html_bytes
    assert UNSUBSCRIBE_PLACEHOLDER in rendered.html and UNSUBSCRIBE_PLACEHOLDER in rendered.text
    # The plain text lists the links the reader needs.
    for article in selection.own[:3]:
        assert article.url.split("?")[0] in rendered.text


def test_a_long_digest_is_cut_with_a_more_link_not_clipped(tmp_path: Path) -> None:
    long_summary = "A long summary sentence that keeps going. " * 12
    extra = {
        f"n{i:02}.md": article_md(
            f"Story number {i}", f"2026-11-2{i % 7 + 1}T08:{i:02}:00+01:00", "Energy", long_summary
        )
        for i in range(40)
    }
    root = _site(tmp_path, extra_records=extra)
    text = (root / "syndicate.toml").read_text()
    (root / "syndicate.toml").write_text(
        text.replace("max_age_days = 30", "max_age_days = 30\nmax_items = 50\nmax_html_bytes = 40000")
    )
    config, selection = _select(root, NOW)
    rendered = render_digest(config, selection, now=NOW)
    assert len(rendered.html.encode()) <= 40000
    assert rendered.left_out > 0
    assert f"{rendered.left_out} more on the site" in rendered.html
    assert f"{rendered.left_out} more on the site" in rendered.text
    assert len(rendered.item_keys) + rendered.left_out == selection.count


def test_site_template_can_extend_the_default_and_replace_one_block(tmp_path: Path) -> None:
    root = _site(tmp_path)
    templates = root / "templates"
    templates.mkdir()
    (templates / "digest.html").write_text(
        '{% extends "default:digest.html" %}\n'
        '{% block footer %}<tr><td class="footer">Custom footer for {{ site.title }}. '
        '<a href="{{ digest.unsubscribe_url }}">Leave</a></td></tr>{% endblock %}\n',
        encoding="utf-8",
    )
    config, selection = _select(root, NOW)
    rendered = render_digest(config, selection, now=NOW)
    assert "Custom footer for Test Ledger." in rendered.html
    assert "North Sea grid plan" in rendered.html  # the rest of the default is still there
    assert "You receive this email because" not in rendered.html


def test_a_broken_site_template_names_file_and_line(tmp_path: Path) -> None:
    root = _site(tmp_path)
    (root / "templates").mkdir()
    (root / "templates" / "digest.txt").write_text("line one\n{% if %}\n", encoding="utf-8")
    config, selection = _select(root, NOW)
    with pytest.raises(TemplateError, match=r"digest\.txt:2: template syntax error"):
        render_digest(config, selection, now=NOW)


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    root = _site(tmp_path)
    config, selection = _select(root, NOW)
    first = render_digest(config, selection, now=NOW)
    second = render_digest(config, selection, now=NOW)
    assert first == second and first.content_hash == second.content_hash


def test_serve_preview_renders_the_next_digest_for_a_sample_reader(tmp_path: Path) -> None:
    from syndicate.digest import PREVIEW_ADDRESS, render_preview

    root = _site(tmp_path)
    config, _ = _select(root, NOW)
    html, text = render_preview(config, now=NOW)
    assert "North Sea grid plan" in html and "North Sea grid plan" in text
    assert UNSUBSCRIBE_PLACEHOLDER not in html + text
    assert f"email={PREVIEW_ADDRESS.replace('@', '%40')}&amp;token=" in html


def test_an_invalid_record_does_not_hold_back_the_digest(tmp_path: Path) -> None:
    root = _site(tmp_path, extra_records={"broken.md": "---\ntitle: No date here\n---\n\nBody.\n"})
    config = load_config(root / "syndicate.toml")
    with open_store(config.state_path) as store:
        selection = select_items(config, store, now=NOW, window_start=None)
    assert [a.title for a in selection.own] == [
        "Prices in the euro area",
        "The EU budget, explained",
        "Gas storage before winter",
        "North Sea grid plan",
    ]


def test_utm_tags_only_our_own_links(tmp_path: Path) -> None:
    _, selection, rendered = _example_rendered(tmp_path)
    hrefs = _parse(rendered.html).hrefs
    outside = [h for h in hrefs if h.startswith(("https://observatory.example.org/", "https://danube-review."))]
    assert outside and not any("utm_" in h for h in outside)
    own = [h for h in hrefs if h.split("?")[0] in {a.url for a in selection.own}]
    assert own and all("utm_source=ledger-weekly" in h for h in own)
