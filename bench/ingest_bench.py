"""Ingest speed: 500 generated feeds of 50 items each, served from a local HTTP server.

Prints the first ingest time, the re-ingest time when every source answers 304, and
the ingesting process's peak memory (the server runs in a separate process).
Targets on a 2-core machine: first ingest < 60 s, all-304 re-ingest < 5 s.

    .venv/bin/python bench/ingest_bench.py [--feeds 500] [--items 50] [--workers 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from httpserver import LoopbackServer  # noqa: E402

from syndicate.config import parse_config  # noqa: E402
from syndicate.ingest import ingest_due  # noqa: E402
from syndicate.store import Store  # noqa: E402

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
WORDS = tuple(
    [
        "commission",
        "parliament",
        "council",
        "member",
        "states",
        "energy",
        "market",
        "budget",
        "vote",
        "policy",
        "agreement",
        "summit",
        "minister",
        "treaty",
        "reform",
        "climate",
        "grid",
        "gas",
        "price",
        "inflation",
        "bank",
        "trade",
        "tariff",
        "border",
        "election",
        "coalition",
        "court",
        "ruling",
        "directive",
        "regulation",
        "farmers",
        "industry",
        "hydrogen",
        "nuclear",
        "wind",
        "solar",
        "subsidy",
        "debt",
        "growth",
    ]
)


def make_feed(number: int, items: int) -> bytes:
    rng = random.Random(number)
    host = f"source{number}.example.com"
    entries = []
    for i in range(items):
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 10))).capitalize()
        paragraphs = "".join(
            f"<p>{' '.join(rng.choice(WORDS) for _ in range(rng.randint(30, 60)))} "
            f'<a href="/related/{rng.randint(1, 9999)}">more</a>.</p>'
            for _ in range(rng.randint(2, 5))
        )
        date = NOW - timedelta(hours=i * 3 + rng.randint(0, 2), minutes=rng.randint(0, 59))
        entries.append(
            f"<item><title>{escape(title)}</title><link>https://{host}/{number}/{i}/</link>"
            f'<guid isPermaLink="false">{host}-{i}</guid><pubDate>{format_datetime(date)}</pubDate>'
            f"<author>desk@{host} (Desk {number})</author><category>{rng.choice(WORDS)}</category>"
            f"<description>{escape(paragraphs)}</description>"
            f'<enclosure url="https://{host}/img/{i}.jpg" type="image/jpeg" length="{rng.randint(1000, 99999)}"/>'
            "</item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Source {number}</title>'
        f"<link>https://{host}/</link><description>Generated</description>{''.join(entries)}</channel></rss>"
    ).encode()


def serve(feeds: int, items: int, ports: multiprocessing.Queue[int], stop: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    with LoopbackServer() as server:
        for number in range(feeds):
            server.serve(f"/feed{number}.xml", make_feed(number, items), etag=f'"v{number}"', gzip_body=number % 2 == 0)
        ports.put(server.port)
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    context = multiprocessing.get_context("fork")
    ports: multiprocessing.Queue[int] = context.Queue()
    stop = context.Event()
    server = context.Process(target=serve, args=(args.feeds, args.items, ports, stop), daemon=True)
    server.start()
    port = ports.get(timeout=300)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            raw = {
                "site": {"title": "Bench", "url": "https://bench.example.eu/"},
                "sources": [
                    {"name": f"source{n}", "url": f"http://127.0.0.1:{port}/feed{n}.xml", "max_items": 100}
                    for n in range(args.feeds)
                ],
                "ingest": {"workers": args.workers},
                "state_dir": str(Path(tmp) / "state"),
            }
            config = parse_config(raw, Path(tmp) / "syndicate.toml")
            baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            with Store(config.state_path) as store:
                started = time.perf_counter()
                first = ingest_due(config, store, now=NOW)
                first_time = time.perf_counter() - started
                started = time.perf_counter()
                second = ingest_due(config, store, now=NOW + timedelta(hours=1))
                second_time = time.perf_counter() - started
                held = store.db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        stop.set()
        server.join(timeout=10)

    statuses = sorted({r.status for r in first.results})
    print(f"feeds: {args.feeds} x {args.items} items, workers: {args.workers}, half served gzip-encoded")
    print(
        f"first ingest:   {first_time:6.2f} s  ({first.new} new items, {len(first.failed)} failed, statuses {statuses})"
    )
    print(
        f"all-304 ingest: {second_time:6.2f} s  "
        f"({sum(r.status == '304' for r in second.results)} of {len(second.results)} answered 304)"
    )
    print(f"items held:     {held}")
    print(f"peak memory:    {peak:6.1f} MB RSS (before ingest: {baseline:.1f} MB)")
    print("targets:        first < 60 s, all-304 < 5 s")


if __name__ == "__main__":
    main()
