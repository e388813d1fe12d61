"""Atomic, change-only file writes: a crash leaves the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, *, only_if_changed: bool = True) -> bool:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``.

    Returns True if the file was written, False if it already held exactly ``data``
    (then it is left untouched, so its mtime and HTTP caches stay valid).
    """
    path = Path(path)
    if only_if_changed:
        try:
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        # mkstemp creates 0600; published files must be world-readable like any other.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return True


def atomic_write_text(path: Path, text: str, *, only_if_changed: bool = True) -> bool:
    """UTF-8 version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"), only_if_changed=only_if_changed)


def would_change(path: Path, data: bytes) -> bool:
    """True if writing ``data`` to ``path`` would change the file."""
    try:
        return Path(path).read_bytes() != data
    except FileNotFoundError:
        return True
