#!/usr/bin/env python3
"""Build benchmark: syndicate against the same synthetic corpus built by Hugo.

For each corpus size N it prints: cold build time and peak memory, the time of a
rebuild with nothing changed, after touching one record (mtime only) and after editing
one record that is in the feeds, and Hugo's cold build of the same corpus (RSS for home
and categories, 50 items) with the ratio Hugo / syndicate.

Corpora come from ../shared/bench/make_corpus.py (deterministic; N=1,000 is a prefix of
N=10,000 ...), generated once into WORKDIR/corpus-N and reused. Every build runs in its
own process; peak memory is the largest sum of proportional resident memory (PSS: shared
pages split between the processes sharing them) over the build's whole process tree
(main process plus parsing workers), sampled every 20 ms.

    python bench/build_bench.py                       # N = 1,000, 10,000, 100,000
    python bench/build_bench.py --sizes 1000,10000 --workdir /tmp/syndicate-bench
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAKE_CORPUS = REPO.parent / "shared" / "bench" / "make_corpus.py"
SYNDICATE = [sys.executable, "-m", "syndicate"]

SITE_CONFIG = """\
[site]
title = "Bench"
url = "https://bench.example.org/"
tag_date = "2019-01-01"

[records]
paths = ["articles"]

[feeds]
items = 50
"""

HUGO_CONFIG = """\
baseURL = "https://bench.example.org/"
title = "Bench"
contentDir = "{content}"
disableKinds = ["section", "sitemap", "robotsTXT", "404"]
[taxonomies]
category = "categories"
tag = "tags"
[outputs]
home = ["RSS"]
taxonomy = ["RSS"]
term = ["RSS"]
[services.rss]
limit = 50
"""


def _pss_kb(pid: int) -> int:
    # PSS, not RSS: forked workers share their parent's pages, and RSS would count them twice.
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as handle:
            found = re.search(r"^Pss:\s+(\d+)", handle.read(), re.M)
    except OSError:
        return 0
    return int(found.group(1)) if found else 0


def tree_rss_kb(root_pid: int) -> int:
    """Proportional resident memory (KB) of ``root_pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as handle:
                status = handle.read()
        except OSError:
            continue
        ppid = re.search(r"^PPid:\s+(\d+)", status, re.M)
        pid = int(entry)
        if ppid:
            children.setdefault(int(ppid.group(1)), []).append(pid)
        rss[pid] = _pss_kb(pid)
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``command``; return (wall seconds, peak tree RSS in MB). Fails loudly on a non-zero exit."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{err.decode()}{out.decode()}")
    return elapsed, peak / 1024


def corpus(workdir: Path, n: int) -> Path:
    folder = workdir / f"corpus-{n}"
    md = folder / "md"
    if not (md.is_dir() and sum(1 for _ in os.scandir(md)) == n):
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, str(MAKE_CORPUS), str(n), str(folder), "--no-jsonl"], check=True)
    return md


def newest_record(md: Path) -> Path:
    best, best_date = None, ""
    for entry in os.scandir(md):
        with open(entry.path, encoding="utf-8") as handle:
            head = handle.read(1500)
        found = re.search(r"^date: (\S+)", head, re.M)
        if found and found.group(1) > best_date:  # same offsets dominate; close enough to pick a feed item
            best, best_date = Path(entry.path), found.group(1)
    assert best is not None
    return best


def bench_syndicate(workdir: Path, n: int, md: Path) -> dict[str, float]:
    site = workdir / f"site-{n}"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    (site / "syndicate.toml").write_text(SITE_CONFIG, encoding="utf-8")
    (site / "articles").symlink_to(md)
    build = [*SYNDICATE, "-q", "build", "--now", "2026-01-01T00:00:00Z"]
    results: dict[str, float] = {}
    results["cold"], results["cold_mb"] = measure(build, site)
    results["unchanged"], results["unchanged_mb"] = measure(build, site)
    target = newest_record(md)
    os.utime(target)
    results["touched"], _ = measure(build, site)
    original = target.read_text(encoding="utf-8")
    try:
        target.write_text(original.replace("\n---\n", "\n---\nAn edited first line.\n\n", 1), encoding="utf-8")
        results["edited"], results["edited_mb"] = measure(build, site)
    finally:
        target.write_text(original, encoding="utf-8")
    results["feeds"] = float(len(list((site / "feeds").glob("*.rss"))))
    return results


def bench_hugo(workdir: Path, n: int, md: Path) -> tuple[float, float] | None:
    hugo = shutil.which("hugo")
    if hugo is None:
        return None
    site = workdir / f"hugo-{n}"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    (site / "config.toml").write_text(HUGO_CONFIG.format(content=md), encoding="utf-8")
    return measure([hugo, "--quiet", "-s", str(site), "-d", str(site / "public")], site)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated corpus sizes")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/syndicate-bench"))
    parser.add_argument("--no-hugo", action="store_true", help="skip the Hugo comparison")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"cpus: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}", flush=True)
    if args.no_hugo or shutil.which("hugo") is None:
        print("note: Hugo comparison skipped" + ("" if args.no_hugo else " (hugo not installed: apt-get install hugo)"))
    header = (
        f"{'N':>8} {'cold s':>7} {'cold MB':>8} {'unchanged s':>12} {'touched s':>10} {'edited s':>9}"
        f" {'edited MB':>10} {'hugo s':>7} {'hugo MB':>8} {'hugo/syn':>9}"
    )
    rows = []
    for n in sizes:
        md = corpus(args.workdir, n)
        r = bench_syndicate(args.workdir, n, md)
        hugo = None if args.no_hugo else bench_hugo(args.workdir, n, md)
        hugo_cols = (
            f"{hugo[0]:>7.2f} {hugo[1]:>8.0f} {hugo[0] / r['cold']:>8.2f}x" if hugo else f"{'-':>7} {'-':>8} {'-':>9}"
        )
        row = (
            f"{n:>8} {r['cold']:>7.2f} {r['cold_mb']:>8.0f} {r['unchanged']:>12.2f} {r['touched']:>10.2f}"
            f" {r['edited']:>9.2f} {r['edited_mb']:>10.0f} {hugo_cols}"
        )
        rows.append(row)
        print(f"done N={n}: {row}", file=sys.stderr, flush=True)
    print(header)
    print("\n".join(rows))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
