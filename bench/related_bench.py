#!/usr/bin/env python3
"""Benchmark of the related-articles engine (syndicate.related) on a planted-topic corpus.

Generates the corpus with bench/related_corpus.py if it is not there yet, then runs
each phase in a fresh process (so memory figures are per phase):

    cold         no index on disk: read and tokenise every body, build, save
    warm         index on disk, nothing changed: the digest's situation
    incremental  index on disk, 1% of articles edited and 1% new

Each phase then asks for the related items (limit 3) of a 25-item digest (the 25
newest articles) and of a fixed sample of 1,000 articles, and reports precision@3:
the fraction of the 3 related slots filled by an article with the query's planted topic.

Articles are built directly from the corpus manifest (title, date, categories, tags,
summary from the manifest; the body left in its Markdown file, as the records reader
does), not through syndicate's records reader, so the figures are those of the engine.
Body text comes from syndicate.records.body_text (Markdown parsed to plain text) unless
``--text raw``.

Usage:
    python bench/related_bench.py [--n 100000] [--work /tmp/syndicate-related-bench] [--text markdown|raw]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from related_corpus import write_corpus

from syndicate.config import Config, parse_config
from syndicate.model import Article, Body, Origin, sort_key
from syndicate.related import RelatedIndex

DIGEST_SIZE = 25
SAMPLE_SIZE = 1000
LIMIT = 3


def load_articles(corpus: Path, n: int) -> tuple[list[Article], dict[str, int]]:
    """Articles and planted topics for the first ``n`` manifest entries."""
    articles: list[Article] = []
    topics: dict[str, int] = {}
    with open(corpus / "manifest.jsonl", encoding="utf-8") as manifest:
        for line, _ in zip(manifest, range(n), strict=False):
            entry = json.loads(line)
            date = datetime.fromisoformat(entry["date"])
            articles.append(
                Article(
                    key=f"id:{entry['id']}",
                    id=entry["id"],
                    feed_id=f"https://bench.example/a/{entry['slug']}/",
                    title=entry["title"],
                    url=f"https://bench.example/a/{entry['slug']}/",
                    slug=entry["slug"],
                    published=date,
                    updated=date,
                    categories=tuple(entry["categories"]),
                    tags=tuple(entry["tags"]),
                    summary=entry["summary"],
                    body=Body("markdown", path=str(corpus / entry["path"]), offset=entry["body_offset"]),
                    origin=Origin(entry["path"], line=1),
                )
            )
            topics[entry["id"]] = entry["topic"]
    if len(articles) < n:
        raise SystemExit(f"{corpus}: manifest has only {len(articles)} articles, need {n}")
    return articles, topics


def raw_text(article: Article) -> str:
    assert article.body is not None and article.body.path is not None
    with open(article.body.path, "rb") as handle:
        handle.seek(article.body.offset)
        return handle.read().decode("utf-8")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def precision(index: RelatedIndex, queries: list[Article], topics: dict[str, int]) -> float:
    hits = 0
    for article in queries:
        hits += sum(topics[r.article.id] == topics[article.id] for r in index.related(article, limit=LIMIT))
    return hits / (LIMIT * len(queries))


def run_phase(phase: str, args: argparse.Namespace) -> dict[str, float]:
    corpus = args.work / "corpus"
    cache = args.work / "cache"
    config: Config = parse_config({"site": {"title": "Bench", "url": "https://bench.example/"}}, corpus / "x.toml")
    started = time.perf_counter()
    articles, topics = load_articles(corpus, args.n)
    result: dict[str, float] = {"load_articles_s": time.perf_counter() - started, "rss_articles_mb": rss_mb()}
    text = raw_text if args.text == "raw" else None
    if phase == "cold":
        shutil.rmtree(cache, ignore_errors=True)
    if phase == "incremental":
        step = 100  # 1% edited: a new title changes the fingerprint, so the body is read again
        articles = [replace(a, title=a.title + " update") if i % step == 0 else a for i, a in enumerate(articles)]
        extra, extra_topics = load_articles(corpus, args.n + args.n // step)
        articles.extend(extra[args.n :])
        topics.update(extra_topics)

    digest = sorted(articles, key=sort_key)[:DIGEST_SIZE]
    started = time.perf_counter()
    index = RelatedIndex.build(config, articles, cache_dir=cache, text=text)
    result["build_s"] = time.perf_counter() - started
    started = time.perf_counter()
    lists = [index.related(a, limit=LIMIT) for a in digest]
    result["query25_s"] = time.perf_counter() - started
    result["digest_total_s"] = result["build_s"] + result["query25_s"]
    result["rss_peak_mb"] = rss_mb()
    result["p3_digest"] = sum(
        topics[r.article.id] == topics[a.id] for a, items in zip(digest, lists, strict=True) for r in items
    ) / (LIMIT * DIGEST_SIZE)
    sample = random.Random(1).sample(articles, min(SAMPLE_SIZE, len(articles)))
    started = time.perf_counter()
    result["p3_sample"] = precision(index, sample, topics)
    result["query_ms_each"] = (time.perf_counter() - started) / len(sample) * 1000
    index_file = cache / "related-index.npz"
    result["index_mb"] = index_file.stat().st_size / 1e6 if index_file.exists() else 0.0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/syndicate-related-bench"))
    parser.add_argument("--text", choices=("markdown", "raw"), default="markdown")
    parser.add_argument("--phase", choices=("cold", "warm", "incremental"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(run_phase(args.phase, args)))
        return 0

    corpus = args.work / "corpus"
    needed = args.n + args.n // 100
    manifest = corpus / "manifest.jsonl"
    have = len(manifest.read_bytes().splitlines()) if manifest.exists() else 0
    if have < needed:
        print(f"generating {needed} articles in {corpus} ...", file=sys.stderr)
        write_corpus(needed, corpus)
    rows: dict[str, dict[str, float]] = {}
    for phase in ("cold", "warm", "incremental"):
        command = [sys.executable, __file__, "--phase", phase, "--n", str(args.n), "--work", str(args.work)]
        command += ["--text", args.text]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows[phase] = json.loads(output)
    columns = [
        ("build_s", "build s", "{:.2f}"),
        ("query25_s", "25 queries s", "{:.2f}"),
        ("digest_total_s", "digest total s", "{:.2f}"),
        ("query_ms_each", "ms/query", "{:.1f}"),
        ("p3_digest", "P@3 digest", "{:.3f}"),
        ("p3_sample", "P@3 sample", "{:.3f}"),
        ("rss_articles_mb", "RSS articles MB", "{:.0f}"),
        ("rss_peak_mb", "RSS peak MB", "{:.0f}"),
        ("index_mb", "index file MB", "{:.1f}"),
    ]
    print(f"related-articles bench: N={args.n:,} articles, body text: {args.text}, digest={DIGEST_SIZE}, limit={LIMIT}")
    print(f"{'phase':<22}" + "".join(f"{title:>16}" for _, title, _ in columns))
    for phase, row in rows.items():
        print(f"{phase:<22}" + "".join(f"{fmt.format(row[key]):>16}" for key, _, fmt in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
