"""The state database (``.syndicate/state.db``, SQLite).

It holds what must survive between runs: pinned feed identities and first-publication
times, outside sources and their items, and the digest send ledger. The schema
version lives in ``PRAGMA user_version``; each bump is one migration function, run in
one transaction, so old state files keep working and a crash never leaves half an
upgrade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .errors import StateError

Migration = Callable[[sqlite3.Connection], None]


def _v1(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- One row per item ever published: its pinned feed id and when syndicate first saw it published.
        CREATE TABLE published (
            key        TEXT PRIMARY KEY,
            feed_id    TEXT NOT NULL UNIQUE,
            url        TEXT NOT NULL,
            first_seen TEXT NOT NULL
        );
        CREATE INDEX published_first_seen ON published(first_seen);

        CREATE TABLE meta (
            name  TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        -- Outside sources: fetch state, validators, backoff.
        CREATE TABLE sources (
            name          TEXT PRIMARY KEY,
            url           TEXT NOT NULL,
            config_url    TEXT NOT NULL,
            etag          TEXT,
            last_modified TEXT,
            last_fetch    TEXT,
            last_status   TEXT,
            last_error    TEXT,
            failures      INTEGER NOT NULL DEFAULT 0,
            next_attempt  TEXT,
            disabled      INTEGER NOT NULL DEFAULT 0,
            feed_title    TEXT,
            feed_id       TEXT,
            site_url      TEXT
        );

        -- Items ingested from outside sources.
        CREATE TABLE items (
            source       TEXT NOT NULL,
            guid         TEXT NOT NULL,
            title        TEXT NOT NULL,
            link         TEXT NOT NULL,
            norm_link    TEXT NOT NULL,
            published    TEXT NOT NULL,
            updated      TEXT NOT NULL,
            author       TEXT,
            categories   TEXT NOT NULL DEFAULT '[]',
            summary      TEXT NOT NULL DEFAULT '',
            content      TEXT NOT NULL DEFAULT '',
            image        TEXT,
            content_hash TEXT NOT NULL,
            first_seen   TEXT NOT NULL,
            last_seen    TEXT NOT NULL,
            PRIMARY KEY (source, guid)
        );
        CREATE INDEX items_norm_link ON items(norm_link);

        -- Digest send ledger: one row per digest, one per recipient.
        CREATE TABLE digests (
            id           INTEGER PRIMARY KEY,
            window_start TEXT NOT NULL,
            cutoff       TEXT NOT NULL,
            created      TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            subject      TEXT NOT NULL,
            item_keys    TEXT NOT NULL,
            payload      TEXT NOT NULL DEFAULT '',
            status       TEXT NOT NULL DEFAULT 'sending',
            schedule_slot TEXT
        );
        CREATE TABLE deliveries (
            digest_id INTEGER NOT NULL REFERENCES digests(id),
            email     TEXT NOT NULL,
            status    TEXT NOT NULL,
            attempts  INTEGER NOT NULL DEFAULT 0,
            error     TEXT,
            updated   TEXT NOT NULL,
            PRIMARY KEY (digest_id, email)
        );
        """
    )


def _v2(db: sqlite3.Connection) -> None:
    # The feed's own URL as it states it: what attribution links to when the configured
    # URL is a local file.
    db.execute("ALTER TABLE sources ADD COLUMN self_url TEXT")


MIGRATIONS: tuple[Migration, ...] = (_v1, _v2)


def to_iso(when: datetime) -> str:
    """UTC timestamp text that sorts correctly as a string."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Pin:
    key: str
    feed_id: str
    url: str
    first_seen: datetime


class Store:
    """An open state database. Use as a context manager, or call ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (see ``transaction``).
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot open state database: {exc}") from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(
                f"{self.path}: state database is schema version {version}, newer than this syndicate "
                f"understands ({len(MIGRATIONS)}); upgrade syndicate"
            )
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                migration(self.db)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One unit of work: committed as a whole or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        else:
            # executescript() (used by migrations) commits on its own before running.
            if self.db.in_transaction:
                self.db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------

    def get_meta(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO meta(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def first_seen_time(self, now: datetime) -> datetime:
        """The first-seen time to record at ``now``: after every digest cutoff so far.

        Times are stored to the second. An item first seen in the same second as a digest's
        cutoff, but after that digest made its selection, would otherwise fall between that
        digest and the next; recording it one second past the cutoff puts it in the next.
        """
        row = self.db.execute("SELECT MAX(cutoff) FROM digests").fetchone()
        if row is None or row[0] is None:
            return now
        return max(now, from_iso(row[0]) + timedelta(seconds=1))

    # -- pinned identities ----------------------------------------------------

    def pins(self) -> dict[str, Pin]:
        """Every pinned item, by record key."""
        return {
            row["key"]: Pin(row["key"], row["feed_id"], row["url"], from_iso(row["first_seen"]))
            for row in self.db.execute("SELECT key, feed_id, url, first_seen FROM published")
        }

    def add_pins(self, pins: list[Pin]) -> None:
        """Record newly published items (their feed id and first-seen time) in one transaction."""
        if not pins:
            return
        floor = self.first_seen_time(min(p.first_seen for p in pins))
        pins = [p if p.first_seen >= floor else Pin(p.key, p.feed_id, p.url, floor) for p in pins]
        with self.transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO published(key, feed_id, url, first_seen) VALUES (?, ?, ?, ?)",
                [(p.key, p.feed_id, p.url, to_iso(p.first_seen)) for p in pins],
            )

    def published_between(self, start: datetime, end: datetime) -> list[Pin]:
        """Items first seen as published in ``(start, end]``, oldest first."""
        rows = self.db.execute(
            "SELECT key, feed_id, url, first_seen FROM published WHERE first_seen > ? AND first_seen <= ?"
            " ORDER BY first_seen, key",
            (to_iso(start), to_iso(end)),
        )
        return [Pin(r["key"], r["feed_id"], r["url"], from_iso(r["first_seen"])) for r in rows]


def open_store(path: Path) -> Store:
    """Open (creating and migrating if needed) the state database at ``path``."""
    return Store(path)
