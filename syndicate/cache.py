"""Build caches under ``.syndicate/``: parsed records, rendered article HTML, the last build.

Caches are disposable: a missing, unreadable or outdated cache file is ignored and
rebuilt, never an error. Each file is marshal data (plain tuples, dicts and strings;
several times faster to load than pickle) behind a format tag and a fingerprint of
everything its contents depend on, written atomically.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import marshal
import mmap
import os
import struct
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .fsutil import atomic_write_bytes

FORMAT = b"syndicate-cache-1\n"
RECORDS_FORMAT = b"syndicate-records-2\n"
TRAILER = b"\nsyndicate-records-end\n"


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (restoring its state after).

    Reading 100,000 records allocates millions of small tuples that are never garbage; the
    collector's repeated passes over them would cost about a third of the time.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def read_cache(path: Path, fingerprint: str) -> Any | None:
    """The payload saved with ``fingerprint``, or None (missing, damaged or stale)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if not data.startswith(FORMAT):
        return None
    try:
        saved_fingerprint, payload = marshal.loads(data[len(FORMAT) :])
    except (EOFError, ValueError, TypeError):
        return None
    return payload if saved_fingerprint == fingerprint else None


def write_cache(path: Path, fingerprint: str, payload: Any) -> None:
    """Save ``payload`` (plain values only) under ``fingerprint``; failures are ignored."""
    with contextlib.suppress(OSError, ValueError):
        atomic_write_bytes(Path(path), FORMAT + marshal.dumps((fingerprint, payload)), only_if_changed=False)


class StoredDetails:
    """A record's details blob left in the cache file, read only when asked for.

    Only the few records a feed shows ever need their details; keeping the other 100,000
    blobs out of the load is most of what makes a warm rebuild fast.
    """

    __slots__ = ("buffer", "end", "start")

    def __init__(self, buffer: mmap.mmap, start: int, end: int) -> None:
        self.buffer = buffer
        self.start = start
        self.end = end

    def read(self) -> bytes:
        return self.buffer[self.start : self.end]


def details_bytes(details: bytes | StoredDetails) -> bytes:
    """The marshalled details of a record, whether parsed just now or left in the cache file."""
    return details if isinstance(details, bytes) else details.read()


class RecordCache:
    """Parsed record files by path: ``{rel: (identity, plain result)}``.

    ``details_field`` is the index, in each record tuple, of a ``bytes`` blob that is
    written apart from the rest: the file holds the format tag, then every blob back to
    back, then the index (fingerprint, then marshal chunks whose records carry the blob's
    (start, end) in its place), then the index's offset. Loading reads only the index and
    maps the file, so a blob becomes :class:`StoredDetails` and is read when asked for. The
    file is replaced atomically (a new inode), so a mapping of the old one stays valid.

    Written as a run of chunks rather than one object, so saving 100,000 records never
    holds a second, serialised copy of all of them in memory.
    """

    CHUNK = 4000

    def __init__(self, path: Path, fingerprint: str, details_field: int) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.details_field = details_field
        self.main_count = 0
        """How many entries :meth:`load` read from the main file."""
        self.delta_rels: frozenset[str] = frozenset()
        """The entries it read from the delta (which override the main file's)."""

    def load(self) -> dict[str, tuple[tuple[int, int, int], Any]]:
        files: dict[str, tuple[tuple[int, int, int], Any]] = {}
        self.main_count = 0
        self.delta_rels = frozenset()
        try:
            files = self._load_main()
        except (OSError, EOFError, ValueError, TypeError, IndexError, struct.error):
            return {}
        self.main_count = len(files)
        delta = read_cache(self._delta_path, self.fingerprint)
        if isinstance(delta, dict):
            files.update(delta)
            self.delta_rels = frozenset(delta)
        return files

    def _load_main(self) -> dict[str, tuple[tuple[int, int, int], Any]]:
        files: dict[str, tuple[tuple[int, int, int], Any]] = {}
        with open(self.path, "rb") as handle:
            if handle.read(len(RECORDS_FORMAT)) != RECORDS_FORMAT:
                return {}
            size = os.fstat(handle.fileno()).st_size
            if size < len(RECORDS_FORMAT) + len(TRAILER) + 8:
                return {}
            handle.seek(size - len(TRAILER) - 8)
            tail = handle.read(len(TRAILER) + 8)
            if tail[8:] != TRAILER:
                return {}  # not written to the end
            (index_at,) = struct.unpack("<Q", tail[:8])
            if not len(RECORDS_FORMAT) <= index_at <= size - len(TRAILER) - 8:
                return {}
            handle.seek(index_at)
            index = memoryview(handle.read(size - len(TRAILER) - 8 - index_at))
            # marshal.loads on bytes in memory is several times faster than marshal.load on a file.
            (chunks,) = struct.unpack_from("<Q", index)
            pos = 8
            for number in range(chunks + 1):
                (length,) = struct.unpack_from("<Q", index, pos)
                value = marshal.loads(index[pos + 8 : pos + 8 + length])
                pos += 8 + length
                if number == 0 and value != self.fingerprint:
                    return {}
                if number > 0:
                    files.update(value)
            buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        field = self.details_field
        for rel, (ident, (recs, problems, count)) in files.items():
            if recs:
                stored = tuple((*rec[:field], StoredDetails(buffer, *rec[field]), *rec[field + 1 :]) for rec in recs)
                files[rel] = (ident, (stored, problems, count))
        return files

    @property
    def _delta_path(self) -> Path:
        return Path(self.path).with_name(Path(self.path).name + ".delta")

    def save(
        self,
        files: Sequence[tuple[str, Any, tuple[int, int, int]]],
        results: Mapping[str, Any],
        parsed: Collection[str] | None,
    ) -> None:
        """Save every current file, ``(rel, _, identity)`` with its plain result in ``results[rel]``.

        Written as a small delta next to the main file when few differ from it. ``parsed``
        names the files not served by :meth:`load` (parsed anew); None means unknown, and the
        main file is rewritten.
        """
        if parsed is not None and self.main_count:
            # What differs from the main file: what was parsed now, and what the old delta served.
            idents = {rel: ident for rel, _, ident in files} if self.delta_rels else {}
            changed = {rel: (ident, tuple(results[rel])) for rel, _, ident in files if rel in parsed}
            for rel in self.delta_rels:
                if rel in idents and rel not in changed:
                    changed[rel] = (idents[rel], tuple(results[rel]))
            stale = self.main_count - (len(files) - len(changed))
            limit = max(500, len(files) // 50)
            if len(changed) <= limit and stale <= limit:
                # Rewriting 100,000 records for one edit would cost more than the edit; the delta
                # is merged on load, and folded into the main file once it grows. Its entries were
                # parsed here or read from the old delta: their details are bytes.
                write_cache(self._delta_path, self.fingerprint, changed)
                return
        self._save_main({rel: (ident, tuple(results[rel])) for rel, _, ident in files})
        with contextlib.suppress(OSError):
            self._delta_path.unlink()

    def _save_main(self, files: dict[str, tuple[tuple[int, int, int], Any]]) -> None:
        path = Path(self.path)
        field = self.details_field
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(RECORDS_FORMAT)
                at = len(RECORDS_FORMAT)
                index: list[tuple[str, tuple[tuple[int, int, int], Any]]] = []
                for rel, (ident, (recs, problems, count)) in files.items():
                    placed = []
                    for rec in recs:
                        blob = details_bytes(rec[field])
                        handle.write(blob)
                        placed.append((*rec[:field], (at, at + len(blob)), *rec[field + 1 :]))
                        at += len(blob)
                    index.append((rel, (ident, (tuple(placed), problems, count))))
                chunks = range(0, len(index), self.CHUNK)
                handle.write(struct.pack("<Q", len(chunks)))
                values = [self.fingerprint, *(dict(index[start : start + self.CHUNK]) for start in chunks)]
                for value in values:
                    data = marshal.dumps(value)
                    handle.write(struct.pack("<Q", len(data)) + data)
                handle.write(struct.pack("<Q", at) + TRAILER)
            os.replace(tmp, path)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                tmp.unlink()


def files_digest(files: Iterable[tuple[str, str, tuple[int, int, int]]]) -> str:
    """A digest of (path, identity) of every file: changes when any file is added, removed or changed."""
    return hashlib.blake2b(marshal.dumps([(rel, ident) for rel, _, ident in files]), digest_size=16).hexdigest()


def tree_identity(folders: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every file under ``folders``, sorted: a template change shows up here."""
    found: list[tuple[str, int, int]] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.is_file():
                st = path.stat()
                found.append((str(path), st.st_size, st.st_mtime_ns))
    return sorted(found)
