"""The app in a real browser: streamlit run app.py + Debian's chromium driven by Playwright.

Skips when /usr/lib/chromium/chromium or playwright is missing (CI installs chromium via
apt). Screenshots go to test-artifacts/ (gitignored); look at them.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/lib/chromium/chromium"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_server():
    port = _free_port()
    log = open(ARTIFACTS.mkdir(exist_ok=True) or ARTIFACTS / "streamlit-server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"streamlit did not start; see {log.name}")
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
        log.close()


@pytest.fixture(scope="module")
def chromium_browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new"])
        yield b
        b.close()


def full_page_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its own container: grow the viewport to the content first."""
    h = page.evaluate("() => Math.max(...[...document.querySelectorAll("
                      "'[data-testid=stMain], [data-testid=stSidebarContent]')].map(e => e.scrollHeight))")
    page.set_viewport_size({"width": 1440, "height": min(int(h) + 40, 12000)})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(path), full_page=True)


def headline(page) -> str:
    return page.get_by_test_id("stMetricValue").first.inner_text()


def to_twh(text: str) -> float:
    value, unit = text.replace(",", "").split()
    return float(value) * {"TWh": 1.0, "GWh": 1e-3, "MWh": 1e-6}[unit]


def test_slider_changes_headline_and_screenshots(app_server, chromium_browser):
    page = chromium_browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page.goto(app_server)
    page.get_by_test_id("stMetricValue").first.wait_for(timeout=30_000)
    page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
    before = headline(page)
    assert re.match(r"^[\d.,]+ (TWh|GWh|MWh)$", before), before
    assert "preset=baseline-2025" in page.url

    slider = page.get_by_role("slider", name=re.compile("PUE"))
    slider.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('facility.pue=1.5')", timeout=20_000)
    page.wait_for_timeout(1500)
    after = headline(page)
    assert to_twh(after) > to_twh(before), (before, after)
    assert to_twh(after) == pytest.approx(to_twh(before) * 1.5 / 1.3, rel=0.01)  # energy scales with PUE
    assert page.locator("[data-testid='stException']").count() == 0
    full_page_screenshot(page, ARTIFACTS / "simulator-after-slider.png")

    # the copied link reproduces the view in a fresh page
    fresh = chromium_browser.new_page(viewport={"width": 1440, "height": 900})
    fresh.goto(page.url)
    fresh.get_by_test_id("stMetricValue").first.wait_for(timeout=30_000)
    fresh.wait_for_function("v => document.querySelector('[data-testid=stMetricValue]').innerText === v",
                            arg=after, timeout=20_000)
    fresh.close()

    # the scenario download is a TOML file the CLI accepts
    from project.scenario import load_scenario

    with page.expect_download() as dl:
        page.get_by_role("button", name=re.compile("Scenario \\(TOML\\)")).click()
    path = ARTIFACTS / "downloaded-scenario.toml"
    dl.value.save_as(path)
    assert load_scenario(path).facility.pue.value == pytest.approx(1.5)
    page.close()


def test_bad_upload_in_the_browser(app_server, chromium_browser):
    page = chromium_browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{app_server}/measurements")
    page.get_by_test_id("stFileUploaderDropzoneInput").wait_for(state="attached", timeout=30_000)
    bad = ARTIFACTS / "bad-upload.csv"
    bad.write_text("task,model,kwh_per_inference\nimage_generation,tiny,0.0004\nimage_gen,oops,1\n"
                   "text_generation,gpt2,not-a-number\n", encoding="utf-8")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(bad))
    page.get_by_text("2 row(s) rejected").wait_for(timeout=20_000)
    page.get_by_text("1 row(s) accepted").wait_for(timeout=20_000)
    assert page.locator("[data-testid='stException']").count() == 0
    full_page_screenshot(page, ARTIFACTS / "measurements-bad-upload.png")
    page.close()


@pytest.mark.parametrize("suffix, shot", [
    ("?preset=devries-2027", "simulator-devries-2027.png"),
    ("?preset=iea-base", "simulator-iea-base.png"),
    ("measurements", "measurements.png"),
    ("methodology", "methodology.png"),
])
def test_pages_render(app_server, chromium_browser, suffix, shot):
    page = chromium_browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{app_server}/{suffix}")
    page.get_by_test_id("stHeading").first.wait_for(timeout=30_000)
    page.locator("[data-testid='stVegaLiteChart'], [data-testid='stDataFrame']").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    assert page.locator("[data-testid='stException']").count() == 0
    full_page_screenshot(page, ARTIFACTS / shot)
    page.close()
