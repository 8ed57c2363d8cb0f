"""How fast the app answers, measured in a real browser (Debian's chromium + Playwright).

Three figures (issue 16 targets in brackets):
  cold first headline   server just started, first page load -> first headline card shown   (<= 3 s)
  press -> headline     a keyboard press on a policy slider -> a headline card's text changes (median <= 200 ms)
  press -> settled      the same press -> the script run is over and nothing on the page is stale or still
                        loading (<= 800 ms); the cold page is settled by the same test (tests/streamlit_server.py)

Every press moves the scenario to a combination not seen before (the app caches runs, so
going back and forth would measure the cache). Times are taken inside the page
(performance.now() at keydown and at the DOM change). Usage:

    python benchmarks/app_latency.py [--presses 24] [--width 1440]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from streamlit_server import CHROMIUM, LAUNCH_ARGS, settled, streamlit_server  # noqa: E402

import host_speed  # noqa: E402 - benchmarks/ is on sys.path when run as a script

#: sliders whose every step changes AI electricity in the reference preset, walked left to right
SLIDERS = ["Facility standard: PUE cap", "Serving: batching gain", "Cap on growth of AI requests",
           "Chatbot answers with reasoning on", "Minimum energy rating of models"]

WATCH_JS = """() => {
  const vals = () => [...document.querySelectorAll('[data-testid=stMetricValue]')].map(e => e.innerText).join('|');
  const before = vals();
  window.__lat = {t0: null, head: null, settled: null};
  document.addEventListener('keydown', () => { if (window.__lat.t0 === null) window.__lat.t0 = performance.now(); },
                            {capture: true, once: true});
  const tick = () => {
    const L = window.__lat;
    if (L.t0 !== null) {
      if (L.head === null && vals() !== before) L.head = performance.now();
      const running = document.querySelector('[data-testid=stStatusWidgetRunningIcon]');
      const stale = document.querySelector('[data-stale=true], [data-testid=stSkeleton]');
      if (L.head !== null && !running && !stale) { L.settled = performance.now(); return; }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def measure(presses: int, width: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    out: dict[str, object] = {}
    log = ROOT / "test-artifacts" / "benchmark-server.log"
    t_start = time.perf_counter()
    with streamlit_server(log) as url, sync_playwright() as p:
        out["server_start_s"] = time.perf_counter() - t_start
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        t0 = time.perf_counter()
        page.goto(url)
        page.get_by_test_id("stMetricValue").first.wait_for(timeout=120_000)
        out["cold_first_headline_s"] = time.perf_counter() - t0
        settled(page, 120_000)
        out["cold_settled_s"] = time.perf_counter() - t0
        warm = browser.new_page(viewport={"width": width, "height": 900})
        t0 = time.perf_counter()
        warm.goto(url)
        warm.get_by_test_id("stMetricValue").first.wait_for(timeout=60_000)
        out["warm_first_headline_s"] = time.perf_counter() - t0
        warm.close()

        head, done, skipped = [], [], 0
        plan = [(s, "ArrowRight") for s in SLIDERS for _ in range(5)][:presses]
        for name, key in plan:
            slider = page.get_by_role("slider", name=name)
            slider.focus()
            page.evaluate(WATCH_JS)
            page.keyboard.press(key)
            try:
                page.wait_for_function("() => window.__lat.settled !== null", timeout=20_000)
            except Exception:  # noqa: BLE001 - a press that changed no card (end of a slider): not counted
                skipped += 1
                settled(page)
                continue
            lat = page.evaluate("() => window.__lat")
            head.append(lat["head"] - lat["t0"])
            done.append(lat["settled"] - lat["t0"])
        out.update(presses=len(head), skipped=skipped,
                   press_headline_ms_median=statistics.median(head), press_headline_ms_p90=_p90(head),
                   press_settled_ms_median=statistics.median(done), press_settled_ms_p90=_p90(done),
                   url=page.url)
        browser.close()
    return out


def _p90(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.9 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=24)
    ap.add_argument("--width", type=int, default=1440)
    a = ap.parse_args()
    print(host_speed.line())
    r = measure(a.presses, a.width)
    print(f"server start: {r['server_start_s']:.1f} s")
    print(f"cold first headline: {r['cold_first_headline_s']:.2f} s (target <= 3 s); "
          f"cold page settled: {r['cold_settled_s']:.2f} s; warm first headline: {r['warm_first_headline_s']:.2f} s")
    print(f"slider press -> headline changed: median {r['press_headline_ms_median']:.0f} ms, "
          f"p90 {r['press_headline_ms_p90']:.0f} ms (target median <= 200 ms)")
    print(f"slider press -> page settled: median {r['press_settled_ms_median']:.0f} ms, "
          f"p90 {r['press_settled_ms_p90']:.0f} ms (target <= 800 ms)  [{r['presses']} presses, {r['skipped']} "
          "without a change]")
    print(host_speed.line())


if __name__ == "__main__":
    main()
