"""Start `streamlit run app.py` on a free port and drive it with Debian's chromium (Playwright).

Shared by tests/test_browser_app.py and benchmarks/app_latency.py. Never downloads a
browser: Playwright launches /usr/lib/chromium/chromium (apt-get install chromium).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/lib/chromium/chromium"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
LAUNCH_ARGS = ["--no-sandbox", "--headless=new"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(log_path: Path, timeout: float = 90.0):
    """Yield the base URL of a running app; the server's process group is ended afterwards."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
             str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + timeout
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log_path}")
                time.sleep(0.2)
            yield url
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass


def settled(page, timeout_ms: int = 60_000) -> None:
    """Wait until the page shows the whole of its latest run: the script run is over, no element is
    stale, the simulator is past its headline-only first run (.wc-first-paint), and no element is
    still a placeholder while Streamlit loads its code (stSkeleton, on a browser's first visit)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidgetRunningIcon]')"
        " && !document.querySelector('[data-stale=true]')"
        " && !document.querySelector('.wc-first-paint')"
        " && !document.querySelector('[data-testid=stSkeleton]')", timeout=timeout_ms)


#: best-practice rules switched off, each for markup Streamlit itself writes (not the app's):
#: its file uploader's drop zone is a <section role="presentation"> that holds a focusable button
AXE_OFF = ("presentation-role-conflict",)


def run_axe(page) -> dict:
    """axe-core (vendored, MPL-2.0) on the page: WCAG 2.0/2.1 A and AA rules plus best practices
    (heading order, landmarks), less AXE_OFF."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async (off) => await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
        rules: Object.fromEntries(off.map(r => [r, {enabled: false}])),
        resultTypes: ['violations']})""", list(AXE_OFF))
