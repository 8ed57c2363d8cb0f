"""The app in a real browser: `streamlit run app.py` + Debian's chromium driven by Playwright.

Layout at 1440, 1024 and 390 px (cards never cut off, phone sidebar collapsed with the
headline first, charts as wide as their column), a keyboard slider press and Back, a
hostile link, the chart downloads, an upload, and axe-core (vendored in tests/vendor) on
every page. Screenshots go to test-artifacts/ (gitignored). Skips when chromium or
playwright is missing (CI installs chromium with apt).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from streamlit_server import CHROMIUM, LAUNCH_ARGS, ROOT, run_axe, settled, streamlit_server

ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server(ARTIFACTS / "streamlit-server.log") as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


def open_page(chromium, url: str, width: int, height: int = 900, **kw):
    page = chromium.new_page(viewport={"width": width, "height": height}, accept_downloads=True, **kw)
    page.goto(url)
    page.get_by_test_id("stHeading").first.wait_for(timeout=60_000)
    settled(page)
    return page


def headline(page) -> str:
    return page.get_by_test_id("stMetricValue").first.inner_text()


def no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def screenshot(page, name: str) -> None:
    """Streamlit scrolls inside its main container: grow the viewport to the content first."""
    w = page.viewport_size["width"]
    h = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": w, "height": min(int(h) + 40, 10_000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


OVERFLOW_JS = """() => [...document.querySelectorAll(
    '[data-testid=stMetric] p')].filter(p => p.scrollWidth > p.clientWidth + 1 ||
    getComputedStyle(p).textOverflow === 'ellipsis' && p.scrollWidth > p.clientWidth).map(p => p.innerText)"""


@pytest.mark.parametrize("width", [1440, 1024, 390])
def test_layout_at_three_widths(app_url, chromium, width):
    page = open_page(chromium, app_url, width, 844 if width < 500 else 900)
    no_exception(page)
    assert re.match(r"^[\d.,]+ (TWh|GWh|MWh)$", headline(page))
    cards = page.get_by_test_id("stMetric")
    assert cards.count() == 4
    # nothing in a card is cut off: every line fits its box (text wraps instead)
    assert page.evaluate(OVERFLOW_JS) == []
    for i in range(4):
        box = cards.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    main = page.get_by_test_id("stMain").bounding_box()
    for chart in page.locator("[data-testid='stVegaLiteChart']").all():
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert box["width"] >= 0.8 * (main["width"] - 64), box  # charts take their column, bars get room
        assert box["height"] >= 150
    if width < 500:
        # the phone starts with the sidebar collapsed and the headline on the first screen
        side = page.get_by_test_id("stSidebar").bounding_box()
        assert side is None or side["x"] + side["width"] <= 1, side
        assert cards.first.bounding_box()["y"] < 844
    screenshot(page, f"simulator-{width}.png")
    page.close()


def test_slider_press_changes_headline_and_back_undoes_it(app_url, chromium):
    page = open_page(chromium, app_url, 1440)
    before = headline(page)
    slider = page.get_by_role("slider", name="Facility standard: PUE cap")
    slider.focus()
    page.keyboard.press("End")  # the tightest cap
    page.wait_for_function("() => location.search.includes('pue_cap=1.1')", timeout=30_000)
    page.wait_for_function("v => document.querySelector('[data-testid=stMetricValue]').innerText !== v",
                           arg=before, timeout=30_000)
    settled(page)
    after = headline(page)
    assert float(after.split()[0].replace(",", "")) < float(before.split()[0].replace(",", ""))
    no_exception(page)
    # the link reproduces the view in a fresh page
    fresh = open_page(chromium, page.url, 1440)
    assert headline(fresh) == after
    fresh.close()
    # Back undoes the press
    page.go_back()
    page.wait_for_function("() => !location.search.includes('pue_cap')", timeout=30_000)
    page.wait_for_function("v => document.querySelector('[data-testid=stMetricValue]').innerText === v",
                           arg=before, timeout=30_000)
    page.close()


def test_hostile_link_shows_a_plain_notice(app_url, chromium):
    bad = (f"{app_url}/?preset=reference&right_sizing=9&pue_cap=abc"
           "&%5Bclick%5D(https%3A%2F%2Fevil.example)=1&%21%5Bi%5D(https%3A%2F%2Fevil.example%2Fa.png)=2")
    page = open_page(chromium, bad, 1440)
    no_exception(page)
    alert = page.get_by_test_id("stAlert").first
    text = alert.inner_text()
    assert "right_sizing=9" in text and "pue_cap=abc" in text and "[click](https" in text.replace("\u200b", "")
    assert page.locator("a[href*='evil'], img[src*='evil']").count() == 0
    screenshot(page, "simulator-bad-link.png")
    page.close()


def test_chart_downloads_and_description(app_url, chromium):
    page = open_page(chromium, f"{app_url}/?preset=reference&pue_cap=1.2&pin=iea-base", 1440)
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    label = chart.locator("[aria-label], [aria-roledescription]").first
    assert "median" in (label.get_attribute("aria-label") or "") or "median" in chart.inner_text()
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Chart as SVG").click()
    svg = Path(dl.value.path()).read_text(encoding="utf-8").replace("&amp;", "&")
    for text in ("AI electricity, World", "This scenario", "IEA Energy and AI", "pue_cap=1.2", "Sources:"):
        assert text in svg, text
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Chart as PNG").click()
    png = Path(dl.value.path()).read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 20_000
    (ARTIFACTS / "chart.png").write_bytes(png)
    # the results CSV is the CLI's IAMC export (pyam reads it as it is)
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Results (CSV)").click()
    import pandas as pd

    table = pd.read_csv(dl.value.path())
    assert list(table.columns) == ["model", "scenario", "region", "variable", "unit", "year", "value"]
    assert {"Energy", "Energy|50.0th Percentile", "Water|Off-site"} <= set(table["variable"])
    assert table["model"].str.startswith("wattcast ").all()
    page.close()


def test_upload_rows_are_checked(app_url, chromium):
    page = open_page(chromium, f"{app_url}/measurements", 1440)
    bad = ARTIFACTS / "bad-upload.csv"
    bad.write_text("task;model;energy_kwh_per_inference\nImage Generation;tiny;0,0004\nimage_gen;oops;1\n"
                   "text_generation;gpt2;abc\n", encoding="utf-8")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(bad))
    page.get_by_text("1 row(s) accepted").wait_for(timeout=30_000)
    page.get_by_text("2 row(s) rejected").wait_for(timeout=30_000)
    no_exception(page)
    screenshot(page, "measurements-upload.png")
    page.close()


@pytest.mark.parametrize("path, width", [("", 1440), ("?preset=reference&pue_cap=1.2&view=wedges", 1024),
                                         ("measurements", 1440), ("methodology", 1440), ("", 390)])
def test_axe_finds_no_accessibility_violations(app_url, chromium, path, width):
    page = open_page(chromium, f"{app_url}/{path}", width)
    page.wait_for_timeout(2500)  # new elements fade in: let them reach full opacity
    settled(page)
    res = run_axe(page)
    name = re.sub(r"\W+", "-", path or "simulator").strip("-")
    (ARTIFACTS / f"axe-{name}-{width}.json").write_text(json.dumps(res["violations"], indent=1))
    found = [(v["id"], v["impact"], len(v["nodes"])) for v in res["violations"]]
    assert found == [], found
    if path in ("measurements", "methodology") or "wedges" in path:
        screenshot(page, f"{name}-{width}.png")
    page.close()
