"""Digest benchmark: render the example site's digest, then send it to N subscribers.

Sends over real SMTP to an aiosmtpd server on 127.0.0.1 (install the test extra), one
connection reused for every message, every delivery recorded in the ledger as in
production. Prints render time, send time, messages per second and the message size.

    python bench/digest_bench.py --subscribers 2000
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller

from syndicate.build import build_site
from syndicate.config import load_config
from syndicate.digest import preview, send_digest
from syndicate.ingest import ingest_due
from syndicate.store import open_store

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class _Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages += 1
        self.bytes += len(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    try:
        shutil.copy(REPO / "syndicate.toml", work / "syndicate.toml")
        shutil.copytree(REPO / "example", work / "example")
        port = _free_port()
        rows = "".join(f"reader{i:06}@example.org,Reader {i}\n" for i in range(args.subscribers))
        (work / "example" / "subscribers.csv").write_text("email,name\n" + rows, encoding="utf-8")
        text = (work / "syndicate.toml").read_text(encoding="utf-8")
        text = text.replace('outbox = "mail"\n', "").replace("port = 8025", f"port = {port}")
        text = text.replace("rate_limit = 5", "rate_limit = 0")
        (work / "syndicate.toml").write_text(text, encoding="utf-8")
        config = load_config(work / "syndicate.toml")

        counter = _Counter()
        controller = Controller(counter, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            with open_store(config.state_path) as store:
                ingest_due(config, store, now=NOW)
                build_site(config, store, now=NOW)
                started = time.perf_counter()
                _, rendered = preview(config, store, now=NOW)
                render_s = time.perf_counter() - started
                started = time.perf_counter()
                outcome = send_digest(config, store, now=NOW, environ={"SYNDICATE_UNSUBSCRIBE_SECRET": "bench"})
                send_s = time.perf_counter() - started
        finally:
            controller.stop()
        print(f"items in digest:      {len(rendered.item_keys)}")
        print(f"render (select, related, inline): {render_s:.2f} s")
        print(f"HTML part:            {len(rendered.html.encode()):,} bytes")
        print(f"sent:                 {outcome.sent} of {args.subscribers} ({outcome.failed} failed)")
        print(f"send time:            {send_s:.2f} s ({outcome.sent / send_s:.0f} messages/s, ledger included)")
        print(f"average message:      {counter.bytes // max(1, counter.messages):,} bytes")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
