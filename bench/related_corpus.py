#!/usr/bin/env python3
"""Deterministic corpus with planted topics, for the related-articles benchmark.

Writes N Markdown records (YAML front matter + body) and a manifest:

    OUT/md/000/000001.md ...          (1,000 files per folder)
    OUT/manifest.jsonl                one line per article: id, path, body_offset, topic,
                                      title, slug, date, categories, tags, summary

Each of TOPICS topics has its own vocabulary of made-up words (a few shared with the
next topic, so topics overlap), and a home category and tag. An article is generic
news filler (the same word lists as /work/shared/bench/make_corpus.py plus a few
thousand Zipf-distributed filler words) with its topic's words mixed in at a low rate;
one in six also carries a few words of a second topic. Categories and tags are noisy:
the home category only 60% of the time, the topic tag 40%, plus random ones. Article i
depends only on (seed, i), so smaller corpora are prefixes of larger ones.

Usage:
    python bench/related_corpus.py N OUTDIR [--seed 7] [--topics 200]

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def _words(text: str) -> list[str]:
    return text.split()


CATEGORIES = [
    "European Union", "United States", "Economy", "Politics", "Climate", "Technology", "Culture", "Health",
    "Migration", "Energy", "Security & Defence", "Business", "Science", "Education", "Agriculture", "Transport",
    "Digital Policy", "Justice", "Trade", "Foreign Affairs", "Eastern Europe", "Balkans", "Nordics",
    "Mediterranean", "Africa", "Asia-Pacific", "Middle East", "Latin America", "Sport", "Travel", "Opinion",
    "Interviews", "Fact Check", "Environment", "Housing", "Labour", "Finance", "Media", "Elections", "Human Rights",
]  # fmt: skip
NEWS = _words(
    "commission parliament council member states minister government budget policy agreement proposal summit "
    "negotiations vote election campaign market inflation growth report data survey analysis region city "
    "citizens workers companies industry energy climate emissions transport border security defence trade "
    "tariffs court ruling law reform investment bank euro dollar spending deficit debt crisis recovery plan "
    "strategy funding officials spokesperson statement interview according said told warned announced expected "
    "estimated percent million billion year week month today yesterday Brussels Strasbourg Berlin Paris Warsaw "
    "Madrid Rome Washington Kyiv Athens Lisbon Vienna Prague Budapest Dublin Tallinn"
)
FUNCTION = _words("the of and to a in for on with that is was by as at it from this be has have")
SYLLABLES = _words(
    "ba be bi bo bu da de di do du fa fe fi fo ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu "
    "pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu za ze zi zo zu"
)
CODAS = ["", "", "n", "r", "l", "s", "x", "nd", "rt", "sk"]
START = datetime(2020, 1, 1, tzinfo=UTC)
SPAN_S = 6 * 365 * 24 * 3600
TOPIC_WORDS = 24
SHARED_WITH_NEXT = 4
TOPIC_RATE = 0.08
SECOND_TOPIC_RATE = 0.03


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)) + rng.choice(CODAS)


def _vocabularies(seed: int, topics: int) -> tuple[list[list[str]], list[str], list[float], list[str]]:
    rng = random.Random(f"vocab:{seed}")
    seen: set[str] = set(NEWS) | set(FUNCTION)

    def fresh(syllables: int) -> str:
        while True:
            word = _word(rng, syllables)
            if word not in seen:
                seen.add(word)
                return word

    own = [[fresh(rng.choice((3, 4))) for _ in range(TOPIC_WORDS - SHARED_WITH_NEXT)] for _ in range(topics)]
    vocab = [own[t] + own[(t + 1) % topics][:SHARED_WITH_NEXT] for t in range(topics)]
    filler = [fresh(rng.choice((2, 3, 4))) for _ in range(4000)]
    weights = [1.0 / (k + 1) ** 0.9 for k in range(len(filler))]
    tag_pool = sorted({fresh(2) for _ in range(300)})
    return vocab, filler, weights, tag_pool


class Corpus:
    """Article generator: ``article(i)`` depends only on (seed, i)."""

    def __init__(self, seed: int = 7, topics: int = 200) -> None:
        self.seed = seed
        self.topics = topics
        self.vocab, self.filler, self.filler_weights, self.tag_pool = _vocabularies(seed, topics)
        self.generic = NEWS * 2 + FUNCTION * 6

    def _text(self, rng: random.Random, words: int, topic: int, second: int | None) -> list[str]:
        out: list[str] = []
        filler = rng.choices(self.filler, weights=self.filler_weights, k=words)
        generic = rng.choices(self.generic, k=words)
        for k in range(words):
            r = rng.random()
            if r < TOPIC_RATE:
                out.append(rng.choice(self.vocab[topic]))
            elif second is not None and r < TOPIC_RATE + SECOND_TOPIC_RATE:
                out.append(rng.choice(self.vocab[second]))
            elif r < 0.45:
                out.append(filler[k])
            else:
                out.append(generic[k])
        return out

    def article(self, i: int) -> dict[str, object]:
        rng = random.Random(f"article:{self.seed}:{i}")
        topic = rng.randrange(self.topics)
        second = rng.randrange(self.topics) if rng.random() < 1 / 6 else None
        title_words = rng.sample(self.vocab[topic], rng.randint(1, 3)) + rng.choices(NEWS, k=rng.randint(2, 4))
        rng.shuffle(title_words)
        title = " ".join(title_words).capitalize()
        summary = " ".join(self._text(rng, rng.randint(15, 30), topic, None)).capitalize() + "."
        body_words = self._text(rng, rng.randint(250, 600), topic, second)
        paragraphs = []
        while body_words:
            size = rng.randint(40, 90)
            chunk, body_words = body_words[:size], body_words[size:]
            paragraphs.append(" ".join(chunk).capitalize() + ".")
        home = CATEGORIES[topic % len(CATEGORIES)]
        categories = [home if rng.random() < 0.6 else rng.choice(CATEGORIES)]
        if rng.random() < 0.3:
            categories.append(rng.choice(CATEGORIES))
        tags = rng.sample(self.tag_pool, rng.randint(1, 3))
        if rng.random() < 0.4:
            tags.insert(0, f"topic-{self.vocab[topic][0]}")
        date = START + timedelta(seconds=rng.randrange(SPAN_S))
        return {
            "id": f"a{i:06d}",
            "topic": topic,
            "title": title,
            "slug": f"a{i:06d}",
            "date": date.isoformat(),
            "categories": list(dict.fromkeys(categories)),
            "tags": list(dict.fromkeys(tags)),
            "summary": summary,
            "body": "\n\n".join(paragraphs) + "\n",
        }


def render_markdown(article: dict[str, object]) -> tuple[str, int]:
    """The record file's text and the character offset where its body starts."""
    front = ["---"]
    for key in ("id", "title", "slug", "date", "categories", "tags", "summary"):
        front.append(f"{key}: {json.dumps(article[key], ensure_ascii=False)}")
    front.append("---\n\n")
    head = "\n".join(front)
    return head + str(article["body"]), len(head.encode("utf-8"))


def write_corpus(n: int, out: Path, *, seed: int = 7, topics: int = 200) -> None:
    """Write ``n`` records and the manifest under ``out``."""
    corpus = Corpus(seed, topics)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as manifest:
        for i in range(n):
            article = corpus.article(i)
            rel = Path("md") / f"{i // 1000:03d}" / f"{i:06d}.md"
            path = out / rel
            if i % 1000 == 0:
                path.parent.mkdir(parents=True, exist_ok=True)
            text, offset = render_markdown(article)
            path.write_text(text, encoding="utf-8")
            entry = {k: v for k, v in article.items() if k != "body"}
            entry.update(path=rel.as_posix(), body_offset=offset)
            manifest.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--topics", type=int, default=200)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    write_corpus(args.n, args.out, seed=args.seed, topics=args.topics)
    print(f"wrote {args.n} records to {args.out} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
