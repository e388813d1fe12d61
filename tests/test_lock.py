"""The run lock, held and contended by real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syndicate.errors import LockBusy
from syndicate.lock import RunLock

HOLDER = """
import sys, time
from pathlib import Path
from syndicate.lock import RunLock
lock = RunLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
print("released", flush=True)
time.sleep(30)
"""


def start_holder(state_dir: Path, hold: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_dir), str(hold)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_lock_busy_names_the_holder_and_frees_when_the_holder_is_killed(tmp_path: Path) -> None:
    proc = start_holder(tmp_path / ".syndicate", hold=60)
    try:
        with pytest.raises(LockBusy) as info:
            RunLock(tmp_path / ".syndicate").acquire()
        assert str(info.value) == f"another syndicate run is in progress (pid {proc.pid}); not starting"
        # kill -9: no chance to clean up, yet the kernel drops the lock with the process.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        with RunLock(tmp_path / ".syndicate") as lock:
            assert lock.held
    finally:
        stop(proc)


def test_lock_waits_for_a_holder_that_finishes(tmp_path: Path) -> None:
    proc = start_holder(tmp_path, hold=0.4)
    try:
        started = time.monotonic()
        with RunLock(tmp_path, wait=10) as lock:
            assert lock.held
        assert 0.2 < time.monotonic() - started < 5
    finally:
        stop(proc)


def test_lock_wait_gives_up_after_the_timeout(tmp_path: Path) -> None:
    proc = start_holder(tmp_path, hold=60)
    try:
        started = time.monotonic()
        with pytest.raises(LockBusy, match=r"after waiting 0\.3s; not starting$"):
            RunLock(tmp_path, wait=0.3).acquire()
        assert 0.25 < time.monotonic() - started < 3
    finally:
        stop(proc)


def test_lock_is_reusable_in_one_process_after_release(tmp_path: Path) -> None:
    first = RunLock(tmp_path)
    first.acquire()
    with pytest.raises(LockBusy):
        RunLock(tmp_path).acquire()
    first.release()
    first.release()  # idempotent
    with RunLock(tmp_path):
        pass
    assert (tmp_path / "run.lock").exists()
