"""Stop what a driver started when the driver dies, even by SIGKILL: fate-sharing for a local Ray.

``ray.init()`` without an address starts a Ray instance as the driver's descendants. When
the driver is killed, Ray's GCS server and raylet stop with it, but its dashboard and
runtime-env agents (children of the raylet) lived on for about a minute here (Ray 2.60,
measured). :func:`start` launches a small watcher in its own session (so a signal to the
driver's process group does not reach it); while the driver lives it notes every
descendant the driver has; once the driver is gone it terminates those still running
(SIGTERM, then SIGKILL after 3 s) and exits. A Ray cluster reached with ``--address`` is
not ours to stop: Ray ends a dead driver's job there itself.

Run as a script (``python measure/reaper.py PID [EXCLUDE,...]``), so the watcher imports
only the standard library and psutil, not the measure package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def start(exclude: set[int] | None = None) -> subprocess.Popen:
    """Watch this process; ``exclude``: PIDs of descendants that are not ours to stop."""
    ex = ",".join(str(p) for p in sorted(exclude or ()))
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), str(os.getpid()), ex],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)


def children(pid: int | None = None) -> set[int]:
    """PIDs of the descendants of ``pid`` (default this process)."""
    import psutil

    try:
        return {c.pid for c in psutil.Process(pid or os.getpid()).children(recursive=True)}
    except psutil.Error:
        return set()


def _alive(p) -> bool:
    """Running and not a zombie (a killed driver stays a zombie until its parent reaps it)."""
    import psutil

    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def watch(driver_pid: int, exclude: set[int], poll_s: float = 0.5, grace_s: float = 3.0) -> int:
    """Until ``driver_pid`` is gone, note its descendants; then stop them. Returns how many."""
    import psutil

    try:
        driver = psutil.Process(driver_pid)
    except psutil.NoSuchProcess:
        return 0
    me = os.getpid()
    seen: dict[int, psutil.Process] = {}
    while _alive(driver):
        try:
            for c in driver.children(recursive=True):
                if c.pid not in exclude and c.pid != me:
                    seen.setdefault(c.pid, c)  # a Process remembers its start time: no PID-reuse kills
        except psutil.Error:
            pass
        time.sleep(poll_s)
    alive = []
    for p in seen.values():
        try:
            if p.is_running():
                p.terminate()
                alive.append(p)
        except psutil.Error:
            pass
    _, left = psutil.wait_procs(alive, timeout=grace_s)
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    return len(alive)


if __name__ == "__main__":
    excluded = {int(x) for x in sys.argv[2].split(",") if x} if len(sys.argv) > 2 else set()
    watch(int(sys.argv[1]), excluded)
