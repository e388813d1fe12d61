"""One run at a time per site: an OS file lock in the state folder.

``flock`` locks belong to the open file, so the kernel releases them when the process
exits for any reason (crash, kill -9, power cut of the process): a dead run never leaves
a stale lock behind, and there is no lock file to clean up by hand. The file itself stays;
it only carries the holder's pid for the "already running" notice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from .errors import LockBusy, StateError

LOCK_NAME = "run.lock"
POLL_SECONDS = 0.05


class RunLock:
    """An exclusive lock on ``<state_dir>/run.lock``; a context manager.

    ``wait`` is how long ``acquire`` keeps trying (0: give up at once). Raises
    LockBusy naming the holder's pid when the lock stays taken.
    """

    def __init__(self, state_dir: Path, *, wait: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self.wait = wait
        self._sleep = sleep
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StateError(f"{self.path}: cannot open the run lock: {exc.strerror}") from exc
        deadline = time.monotonic() + max(self.wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_pid(fd)
                    os.close(fd)
                    who = f" (pid {holder})" if holder else ""
                    waited = f" after waiting {self.wait:g}s" if self.wait > 0 else ""
                    raise LockBusy(f"another syndicate run is in progress{who}{waited}; not starting") from None
                self._sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
        # Record the holder for the notice another run prints; best effort only.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
