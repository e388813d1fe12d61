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
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .fsutil import atomic_write_bytes

FORMAT = b"syndicate-cache-1\n"
RECORDS_FORMAT = b"syndicate-records-1\n"


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


class RecordCache:
    """Parsed record files by path: ``{rel: (identity, plain result)}``.

    Written as a run of marshal chunks rather than one object, so saving 100,000 records
    never holds a second, serialised copy of all of them in memory.
    """

    CHUNK = 4000

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.main_idents: dict[str, Any] = {}

    def load(self) -> dict[str, tuple[tuple[int, int, int], Any]]:
        files: dict[str, tuple[tuple[int, int, int], Any]] = {}
        self.main_idents = {}
        try:
            with open(self.path, "rb") as handle:
                if handle.read(len(RECORDS_FORMAT)) != RECORDS_FORMAT or marshal.load(handle) != self.fingerprint:
                    return {}
                for _ in range(marshal.load(handle)):
                    files.update(marshal.load(handle))
        except (OSError, EOFError, ValueError, TypeError):
            return {}
        self.main_idents = {rel: entry[0] for rel, entry in files.items()}
        delta = read_cache(self._delta_path, self.fingerprint)
        if isinstance(delta, dict):
            files.update(delta)
        return files

    @property
    def _delta_path(self) -> Path:
        return Path(self.path).with_name(Path(self.path).name + ".delta")

    def save(self, files: dict[str, tuple[tuple[int, int, int], Any]]) -> None:
        """Save ``files``: as a small delta next to the main file when few differ from it."""
        main = self.main_idents
        changed = {rel: entry for rel, entry in files.items() if main.get(rel) != entry[0]}
        stale = len(main) - (len(files) - len(changed))
        limit = max(500, len(files) // 50)
        if main and len(changed) <= limit and stale <= limit:
            # Rewriting 100,000 records for one edit would cost more than the edit; the delta
            # is merged on load, and folded into the main file once it grows.
            write_cache(self._delta_path, self.fingerprint, changed)
            return
        self._save_main(files)
        with contextlib.suppress(OSError):
            self._delta_path.unlink()

    def _save_main(self, files: dict[str, tuple[tuple[int, int, int], Any]]) -> None:
        path = Path(self.path)
        items = list(files.items())
        chunks = range(0, len(items), self.CHUNK)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(RECORDS_FORMAT)
                marshal.dump(self.fingerprint, handle)
                marshal.dump(len(chunks), handle)
                for start in chunks:
                    marshal.dump(dict(items[start : start + self.CHUNK]), handle)
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
