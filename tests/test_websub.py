"""WebSub publish pings against a real HTTP server on loopback."""

from __future__ import annotations

from run_support import free_port, loopback_server

from syndicate.websub import ping_hub

TOPICS = [
    "https://ledger.example.eu/feeds/energy.rss.xml",
    "https://ledger.example.eu/feeds/all.atom.xml",
    "https://ledger.example.eu/feeds/energy.rss.xml",
]


def test_ping_posts_one_publish_request_per_changed_feed() -> None:
    with loopback_server() as hub:
        result = ping_hub(hub.url + "/hub", TOPICS, timeout=5)
        posts = hub.posts()
    assert result.ok
    assert result.accepted == (
        "https://ledger.example.eu/feeds/all.atom.xml",
        "https://ledger.example.eu/feeds/energy.rss.xml",
    )
    assert [p.path for p in posts] == ["/hub", "/hub"]
    assert posts[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert posts[0].form == {
        "hub.mode": ["publish"],
        "hub.url": ["https://ledger.example.eu/feeds/all.atom.xml"],
        "hub.topic": ["https://ledger.example.eu/feeds/all.atom.xml"],
    }
    assert result.summary() == f"hub {hub.url}/hub notified of 2 changed feed(s)"


def test_ping_reports_an_http_error_without_raising() -> None:
    with loopback_server() as hub:
        hub.post_status = 500
        result = ping_hub(hub.url, TOPICS[:1], timeout=5)
    assert not result.ok
    assert result.failed == (("https://ledger.example.eu/feeds/energy.rss.xml", "HTTP 500 Internal Server Error"),)
    assert result.summary() == (
        f"hub {hub.url}: ping failed for https://ledger.example.eu/feeds/energy.rss.xml: HTTP 500 Internal Server Error"
    )


def test_ping_times_out_and_skips_the_rest() -> None:
    with loopback_server() as hub:
        hub.delay = 1.0
        result = ping_hub(hub.url, TOPICS, timeout=0.3)
        posts = hub.posts()
    assert result.accepted == ()
    assert [error for _, error in result.failed] == ["no answer within 0.3s", "no answer within 0.3s"]
    assert len(posts) == 1
    assert "(and 1 more)" in result.summary()


def test_ping_to_a_closed_port_fails_cleanly() -> None:
    result = ping_hub(f"http://127.0.0.1:{free_port()}/", TOPICS[:1], timeout=2)
    assert not result.ok
    assert "connect" in result.failed[0][1].lower() or "refused" in result.failed[0][1].lower()


def test_ping_with_nothing_changed_sends_nothing() -> None:
    with loopback_server() as hub:
        result = ping_hub(hub.url, [], timeout=1)
        assert hub.requests == []
    assert result.ok and result.accepted == ()


def test_subscription_topics_leave_out_archive_documents() -> None:
    from syndicate.websub import subscription_topics

    feeds = "https://ledger.example.eu/feeds/"
    changed = [feeds + "energy.rss", feeds + "archive/energy/3.rss", feeds + "all.atom", feeds + "energy.rss"]
    assert subscription_topics(feeds, changed) == [feeds + "all.atom", feeds + "energy.rss"]


def test_build_command_pings_the_hub_and_survives_a_failing_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner
    from run_support import write_site

    from syndicate.cli import cli

    runner = CliRunner()
    with loopback_server() as hub:
        site = write_site(tmp_path / "site", hub=hub.url + "/hub", schedule=())
        args = ["-c", str(site / "syndicate.toml"), "build", "--now", "2026-11-28T12:00:00Z"]
        first = runner.invoke(cli, args, catch_exceptions=False)
        assert first.exit_code == 0 and first.stderr == ""
        topics = sorted(t for p in hub.posts() for t in p.form["hub.topic"])
        assert topics == sorted(
            f"https://ledger.example.eu/feeds/{s}.{x}"
            for s in ("all", "economy", "energy")
            for x in ("rss", "atom", "json")
        )
        (site / "articles" / "gas.md").write_text(
            "---\ntitle: Gas storage, revised\ndate: 2026-11-25T09:30:00+01:00\ncategories: [Energy]\n---\nNew.\n"
        )
        hub.post_status = 500
        second = runner.invoke(cli, args, catch_exceptions=False)
    assert second.exit_code == 0
    assert second.stderr.startswith(f"Warning: hub {hub.url}/hub: ping failed for https://ledger.example.eu/feeds/")
    assert "HTTP 500 Internal Server Error (and 5 more)" in second.stderr
